/** Small DOM helpers: the panels build their controls with these. */

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

/** A labelled <select>; returns the element (value = the chosen option). */
export function select(parent: HTMLElement, label: string, id: string, options: readonly (string | [string, string])[], value?: string): HTMLSelectElement {
  const s = el("select", { id });
  for (const o of options) {
    const [v, text] = typeof o === "string" ? [o, o] : o;
    s.append(el("option", { value: v }, text));
  }
  if (value !== undefined) s.value = value;
  parent.append(el("label", { for: id }, label), s);
  return s;
}

export function numberInput(parent: HTMLElement, label: string, id: string, value: number, min: number, max: number, step = 1): HTMLInputElement {
  const i = el("input", { id, type: "number", value: String(value), min: String(min), max: String(max), step: String(step) });
  parent.append(el("label", { for: id }, label), i);
  return i;
}

/** A range slider with its value shown beside it. */
export function slider(parent: HTMLElement, label: string, id: string, value: number, min: number, max: number, step: number): HTMLInputElement {
  const i = el("input", { id, type: "range", value: String(value), min: String(min), max: String(max), step: String(step) });
  const shown = el("span", { class: "value" }, String(value));
  i.addEventListener("input", () => (shown.textContent = i.value));
  parent.append(el("label", { for: id }, label), el("span", {}, i, " ", shown));
  return i;
}

export function button(parent: HTMLElement, text: string, id: string, onClick: () => unknown, secondary = false): HTMLButtonElement {
  const b = el("button", { id, class: secondary ? "action secondary" : "action" }, text);
  b.addEventListener("click", () => void onClick());
  parent.append(b);
  return b;
}

/** A number from an input, checked against its range; a bad value throws a message naming the field. */
export function readNumber(input: HTMLInputElement, name: string): number {
  const v = Number(input.value), lo = Number(input.min), hi = Number(input.max);
  if (!Number.isFinite(v) || v < lo || v > hi) throw new Error(`${name} must be a number from ${lo} to ${hi}, got "${input.value}"`);
  return v;
}

/** Put an SVG chart (or any node) into a container, replacing what was there. */
export function show(container: HTMLElement, node: Node): void {
  container.replaceChildren(node);
}

/** Let the browser paint (and handle clicks) between chunks of work. */
export const nextFrame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));
export const tick = () => new Promise<void>((r) => setTimeout(r, 0));
