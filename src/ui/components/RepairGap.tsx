// A repair's summary: its teacher, how it ran, and the gap between teacher and
// student on the held-out windows before and after (KL over the whole
// vocabulary, top-1 agreement, both perplexities: src/train/distill/eval.ts),
// with the guard's warning when KL ended above where it started.
import type { RepairReport, TeacherGap } from '../../worker/protocol.ts';

const pct = (x: number) => `${(100 * x).toFixed(1)} %`;

function Row({ label, before, after, f, testId }: { label: string; before: TeacherGap | null; after: TeacherGap | null; f: (g: TeacherGap) => string; testId: string }) {
  return (
    <tr data-testid={testId}>
      <th>{label}</th>
      <td className="num">{before ? f(before) : '–'}</td>
      <td className="num">{after ? f(after) : '–'}</td>
    </tr>
  );
}

export function RepairGap({ repair: x }: { repair: RepairReport }) {
  const [b, a] = [x.before, x.after];
  return (
    <div
      className="repair-gap"
      data-testid="repair-gap"
      data-kl-before={b?.kl ?? ''}
      data-kl-after={a?.kl ?? ''}
      data-top1-before={b?.top1 ?? ''}
      data-top1-after={a?.top1 ?? ''}
      data-ppl-student-before={b?.pplStudent ?? ''}
      data-ppl-student-after={a?.pplStudent ?? ''}
      data-ppl-teacher={a?.pplTeacher ?? b?.pplTeacher ?? ''}
    >
      <h4>Teacher / student gap (held-out{b || a ? `, ${(a ?? b)!.tokens} tokens` : ''})</h4>
      <p className="note">
        Teacher: {x.teacher}. {x.why}
      </p>
      <table className="grid">
        <thead>
          <tr>
            <th />
            <th className="num">before</th>
            <th className="num">after</th>
          </tr>
        </thead>
        <tbody>
          <Row label="KL to the teacher (nats/token)" before={b} after={a} f={(g) => g.kl.toFixed(4)} testId="repair-kl" />
          <Row label="Top-1 agreement" before={b} after={a} f={(g) => pct(g.top1)} testId="repair-top1" />
          <Row label="Perplexity, student" before={b} after={a} f={(g) => g.pplStudent.toFixed(3)} testId="repair-ppl-student" />
          <Row label="Perplexity, teacher" before={b} after={a} f={(g) => g.pplTeacher.toFixed(3)} testId="repair-ppl-teacher" />
        </tbody>
      </table>
      {x.guard && <p className="note bad-text">{x.guard}</p>}
    </div>
  );
}
