// The page: two tasks, each trained in a Web Worker with trainInWorker while the page plots
// the loss and shows what the model does with the newest weights — a character language
// model (char-lm.ts) and a sequence-to-sequence model with attention (seq2seq.ts). A tab
// switches between them (not while one trains); Load opens either kind of saved model and
// shows its tab.
import { MODEL_FORMAT, init, readSafetensors } from "unfold";
import { charLanguageModel } from "./char-lm";
import { sequenceToSequence } from "./seq2seq";
import { byId } from "./ui";

// In a bundled app the worker is a module of the app's own (training-worker.ts), so the bundler sees it.
const createWorker = () => new Worker(new URL("./training-worker.ts", import.meta.url), { type: "module" });

await init();
const tasks = { "char-lm": charLanguageModel(createWorker), seq2seq: sequenceToSequence(createWorker) };
type TaskName = keyof typeof tasks;
const tabs = Array.from(document.querySelectorAll<HTMLButtonElement>("[role=tab]"));

function show(name: TaskName): void {
  for (const tab of tabs) tab.setAttribute("aria-selected", String(tab.dataset.task === name));
  for (const section of Array.from(document.querySelectorAll<HTMLElement>("[data-task-panel]"))) section.hidden = section.dataset.taskPanel !== name;
  document.body.dataset.task = name;
}

/** Tabs switch only while nothing trains (a model's curve and answers stay on its own tab). */
function updateTabs(): void {
  const busy = Object.values(tasks).some((t) => t.controls.training);
  for (const tab of tabs) {
    tab.disabled = busy && tab.getAttribute("aria-selected") !== "true";
    tab.title = tab.disabled ? "Stop training first" : "";
  }
}

/** The tab a saved model belongs in, by the format its header names; null when it names none of the two. */
function taskOf(bytes: Uint8Array): TaskName | null {
  try {
    const format = (JSON.parse(readSafetensors(bytes).metadata.get("unfold") ?? "null") as { format?: unknown } | null)?.format;
    return format === "unfold-seq2seq" ? "seq2seq" : format === MODEL_FORMAT ? "char-lm" : null;
  } catch {
    return null;
  }
}

/** Opens a saved model in the tab of its kind (a file of neither kind: in the tab whose Load was used, which says what is wrong). */
async function open(file: File, input: HTMLInputElement, from: TaskName): Promise<void> {
  let name = from;
  try {
    const bytes = new Uint8Array(await file.arrayBuffer());
    name = taskOf(bytes) ?? from;
    show(name);
    tasks[name].open(bytes, file.name);
  } catch (e) {
    tasks[name].controls.say(`Could not load ${file.name}: ${(e as Error).message}`, "error");
  } finally {
    input.value = "";
    tasks[name].controls.update();
  }
}

for (const [name, task] of Object.entries(tasks) as [TaskName, (typeof tasks)[TaskName]][]) {
  task.controls.onChange = updateTabs;
  const input = task.controls.load;
  input.addEventListener("change", () => input.files?.[0] && void open(input.files[0], input, name));
  task.controls.update();
  task.ready();
}
for (const tab of tabs) tab.addEventListener("click", () => show(tab.dataset.task as TaskName));
show("char-lm");

// For the end-to-end test (test/demo-web.test.ts): each task's plotted series and whether it trains.
Object.assign(globalThis, {
  unfoldDemo: Object.fromEntries(
    Object.entries(tasks).map(([name, t]) => [name, { plot: t.progress.plot, get training() { return t.controls.training; } }]),
  ),
});
