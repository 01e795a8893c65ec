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
}) {
  return (
    <label className="field" title={props.title}>
      <span>{props.label}</span>
      <input
        type="number"
        inputMode="decimal"
        value={props.value}
        min={props.min}
        max={props.max}
        step={props.step ?? 1}
        data-testid={props.testId}
        onChange={(ev) => props.onChange(ev.target.value)}
      />
    </label>
  );
}

/** The number typed, or NaN for an empty box (so the engine reports the field instead of reading 0). */
export function parseNumber(text: string): number {
  return text.trim() === '' ? Number.NaN : Number(text);
}
