/**
 * The drawing pad: pointer events (mouse, pen, touch) draw round strokes of dark ink on a white canvas of
 * fixed resolution, whatever size CSS gives it. Every change bumps `version`, so a prediction can say which
 * drawing it answers.
 */

/** Stroke width in canvas pixels: on the 280-pixel pad a digit's strokes come out about 2 pixels wide in 28×28, as in MNIST. */
const STROKE = 18;
const INK = '#111';
const PAGE = '#fff';

export class DrawingPad {
  /** Bumped by every stroke segment and by clear(). */
  version = 0;
  /** Strokes since the last clear. */
  strokes = 0;
  private readonly context: CanvasRenderingContext2D;
  private last: { x: number; y: number } | null = null;
  private pointer: number | null = null;

  constructor(
    readonly canvas: HTMLCanvasElement,
    private readonly onChange: (pad: DrawingPad, final: boolean) => void,
  ) {
    const context = canvas.getContext('2d', { willReadFrequently: true });
    if (context === null) throw new Error('This browser has no 2D canvas');
    this.context = context;
    this.paintPage();
    this.canvas.dataset.version = '0';
    this.canvas.dataset.strokes = '0';
    canvas.addEventListener('pointerdown', (e) => this.down(e));
    canvas.addEventListener('pointermove', (e) => this.move(e));
    canvas.addEventListener('pointerup', (e) => this.up(e));
    canvas.addEventListener('pointercancel', (e) => this.up(e));
  }

  clear(): void {
    this.paintPage();
    this.strokes = 0;
    this.last = null;
    this.pointer = null;
    this.changed(true);
  }

  private paintPage(): void {
    this.context.fillStyle = PAGE;
    this.context.fillRect(0, 0, this.canvas.width, this.canvas.height);
  }

  /** The canvas's RGBA pixels. */
  pixels(): ImageData {
    return this.context.getImageData(0, 0, this.canvas.width, this.canvas.height);
  }

  private at(e: PointerEvent): { x: number; y: number } {
    const rect = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - rect.left) / rect.width) * this.canvas.width, y: ((e.clientY - rect.top) / rect.height) * this.canvas.height };
  }

  /** A pen presses harder for a wider line; mouse and touch report 0.5 (or 0) and draw the standard width. */
  private width(e: PointerEvent): number {
    return e.pointerType === 'pen' && e.pressure > 0 ? STROKE * (0.6 + 0.8 * e.pressure) : STROKE;
  }

  private down(e: PointerEvent): void {
    if (this.pointer !== null || (e.pointerType === 'mouse' && e.button !== 0)) return;
    e.preventDefault();
    this.pointer = e.pointerId;
    this.canvas.setPointerCapture(e.pointerId);
    this.strokes++;
    this.last = this.at(e);
    this.segment(this.last, this.last, this.width(e));
  }

  private move(e: PointerEvent): void {
    if (e.pointerId !== this.pointer || this.last === null) return;
    e.preventDefault();
    // Coalesced events keep fast strokes smooth where the browser batches them.
    const events = typeof e.getCoalescedEvents === 'function' ? e.getCoalescedEvents() : [];
    for (const point of events.length > 0 ? events : [e]) {
      const next = this.at(point);
      this.segment(this.last, next, this.width(point));
      this.last = next;
    }
  }

  private up(e: PointerEvent): void {
    if (e.pointerId !== this.pointer) return;
    this.pointer = null;
    this.last = null;
    this.changed(true);
  }

  private segment(from: { x: number; y: number }, to: { x: number; y: number }, width: number): void {
    const c = this.context;
    c.strokeStyle = INK;
    c.lineWidth = width;
    c.lineCap = 'round';
    c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(from.x, from.y);
    c.lineTo(to.x, to.y);
    c.stroke();
    this.changed(false);
  }

  private changed(final: boolean): void {
    this.version++;
    this.canvas.dataset.version = String(this.version);
    this.canvas.dataset.strokes = String(this.strokes);
    this.onChange(this, final);
  }
}
