// What the page's two task panels share: finding elements, downloading a file, and the row of
// Train / Stop / Reset / Save / Load buttons with the message line under it.

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`the page has no element #${id}`);
  return element as T;
}

/** Offers `bytes` as a file download named `name`. */
export function download(bytes: Uint8Array, name: string): void {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "application/octet-stream" }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

/** What a task panel does when its buttons are pressed. */
export interface TaskHandlers {
  /** Trains until done or until `signal` aborts (Stop). */
  train(signal: AbortSignal): Promise<void>;
  /** Forgets the model. */
  reset(): void;
  save(): void;
  /** Whether there is a model (to save, to sample from). */
  hasModel(): boolean;
  /** Enables the panel's own controls (called with the buttons' update). */
  update?(): void;
}

/** The buttons of a task panel (ids `${prefix}train`, `stop`, `reset`, `save`, `load`, `message`), and whether it is training. */
export class TaskControls {
  readonly load: HTMLInputElement;
  private readonly buttons: Record<"train" | "stop" | "reset" | "save", HTMLButtonElement>;
  private readonly message: HTMLElement;
  private running: AbortController | null = null;
  /** Called whenever the panel's state may have changed (training started or ended, a model made or dropped). */
  onChange: () => void = () => {};

  /** `settings` are disabled while the panel trains. */
  constructor(prefix: string, private readonly handlers: TaskHandlers, private readonly settings: (HTMLInputElement | HTMLSelectElement)[]) {
    this.buttons = {
      train: byId(`${prefix}train`),
      stop: byId(`${prefix}stop`),
      reset: byId(`${prefix}reset`),
      save: byId(`${prefix}save`),
    };
    this.load = byId(`${prefix}load`);
    this.message = byId(`${prefix}message`);
    this.buttons.train.addEventListener("click", () => void this.train());
    this.buttons.stop.addEventListener("click", () => this.running?.abort());
    this.buttons.reset.addEventListener("click", () => {
      handlers.reset();
      this.update();
    });
    this.buttons.save.addEventListener("click", () => handlers.save());
  }

  get training(): boolean {
    return this.running !== null;
  }

  say(text: string, kind: "info" | "error" = "info"): void {
    this.message.textContent = text;
    this.message.classList.toggle("error", kind === "error");
  }

  async train(): Promise<void> {
    if (this.running) return;
    this.running = new AbortController();
    this.update();
    try {
      await this.handlers.train(this.running.signal);
    } catch (e) {
      this.say(`Training failed: ${(e as Error).message}`, "error");
    } finally {
      this.running = null;
      this.update();
    }
  }

  /** Enables what makes sense now. */
  update(): void {
    const on = this.running !== null;
    this.buttons.train.disabled = on;
    this.buttons.stop.disabled = !on;
    this.buttons.reset.disabled = on;
    this.buttons.save.disabled = !this.handlers.hasModel();
    for (const s of this.settings) s.disabled = on;
    this.handlers.update?.();
    this.onChange();
  }
}
