// An attention heat map on a canvas: one row per output token (the decoder's steps, the end
// symbol last), one column per source token, each cell shaded by the weight that step gave
// that source token (every row sums to 1). Labelled with the tokens on both axes. The canvas
// also carries the matrix's size, labels and geometry as data attributes (data-rows,
// data-cols, data-source, data-output; data-origin and data-cell: where the first cell starts
// and its size, in CSS pixels), for the page's end-to-end test.

const CELL_MAX = 30;
const CELL_MIN = 12;
const LABEL = 26;
/** ColorBrewer "Oranges", light to dark: weight 0 → first, 1 → last. */
const RAMP = ["#fff5eb", "#fee6ce", "#fdd0a2", "#fdae6b", "#fd8d3c", "#f16913", "#d94801", "#a63603", "#7f2704"].map((hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));

function shade(weight: number): string {
  const x = Math.min(1, Math.max(0, weight)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const [r, g, b] = RAMP[i].map((c, k) => Math.round(c + (RAMP[i + 1][k] - c) * f));
  return `rgb(${r}, ${g}, ${b})`;
}

/**
 * Draws `rows` (one Float32Array of source weights per output token) into `canvas`, as wide
 * as `maxWidth` CSS pixels allows. `source` and `output` label the columns and the rows.
 * No rows or no columns: the canvas is emptied to nothing.
 */
export function drawAttention(canvas: HTMLCanvasElement, rows: readonly Float32Array[], source: readonly string[], output: readonly string[], maxWidth: number): void {
  const cols = source.length;
  if (rows.length === 0 || cols === 0) {
    // Nothing to show: no area either.
    canvas.width = canvas.height = 0;
    canvas.style.width = canvas.style.height = "0";
    Object.assign(canvas.dataset, { rows: "0", cols: "0", source: "", output: "", origin: "0", cell: "0" });
    return;
  }
  const cell = Math.max(CELL_MIN, Math.min(CELL_MAX, Math.floor((maxWidth - LABEL) / Math.max(cols, 1))));
  const width = LABEL + cols * cell;
  const height = LABEL + rows.length * cell;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const g = canvas.getContext("2d")!;
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.font = `${Math.min(15, cell - 4)}px ui-monospace, Menlo, Consolas, monospace`;
  g.textAlign = "center";
  g.textBaseline = "middle";
  g.fillStyle = "#5b6b7b";
  source.forEach((token, c) => g.fillText(token, LABEL + (c + 0.5) * cell, LABEL / 2));
  output.forEach((token, r) => g.fillText(token, LABEL / 2, LABEL + (r + 0.5) * cell));
  rows.forEach((row, r) => {
    for (let c = 0; c < cols; c++) {
      g.fillStyle = shade(row[c]);
      g.fillRect(LABEL + c * cell, LABEL + r * cell, cell - 1, cell - 1);
    }
  });
  Object.assign(canvas.dataset, { rows: String(rows.length), cols: String(cols), source: source.join(""), output: output.join(""), origin: String(LABEL), cell: String(cell) });
}
