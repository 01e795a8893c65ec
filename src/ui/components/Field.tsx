// A labelled number input of the request forms. The value stays the text typed:
// the engine checks the parsed number and names the field when it is out of range.
export function NumberField(props: {
  label: string;
  value: string;
  onChange(v: string): void;
  testId: string;
  min?: number;
  max?: number;
  step?: number | 'any';
  title?: string;
  /** What the engine said is wrong with this value (shown under it, and the box marked). */
  error?: string | null;
}) {
  return (
    <label className={props.error ? 'field invalid' : 'field'} title={props.title}>
      <span>{props.label}</span>
      <input
        aria-invalid={props.error ? true : undefined}
        type="number"
        inputMode="decimal"
        value={props.value}
        min={props.min}
        max={props.max}
        step={props.step ?? 1}
        data-testid={props.testId}
        onChange={(ev) => props.onChange(ev.target.value)}
      />
      {props.error && (
        <span className="error-inline" data-testid={`${props.testId}-error`}>
          {props.error}
        </span>
      )}
    </label>
  );
}

/** The number typed, or NaN for an empty box (so the engine reports the field instead of reading 0). */
export function parseNumber(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}
