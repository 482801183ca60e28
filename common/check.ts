/** A self-check's outcome (`tinyproto doctor`): one line, OK or a problem, with what was found. */
export interface CheckResult {
  readonly name: string;
  /** 'ok'; 'warn' (works, but worth knowing); 'problem' (something this board needs is broken). */
  readonly status: 'ok' | 'warn' | 'problem';
  readonly detail: string;
}

export const ok = (name: string, detail: string): CheckResult => ({ name, status: 'ok', detail });
export const warn = (name: string, detail: string): CheckResult => ({ name, status: 'warn', detail });
export const problem = (name: string, detail: string): CheckResult => ({ name, status: 'problem', detail });

/** Runs a check; a throw becomes a problem line naming the error and its code. */
export async function guarded(name: string, fn: () => CheckResult | Promise<CheckResult>): Promise<CheckResult> {
  try {
    return await fn();
  } catch (e) {
    const code = typeof e === 'object' && e !== null && 'code' in e ? ` [${String((e as { code: unknown }).code)}]` : '';
    return problem(name, `${(e as Error).message ?? String(e)}${code}`);
  }
}

export function checkLine(r: CheckResult, width = 10): string {
  const tag = r.status === 'ok' ? 'OK     ' : r.status === 'warn' ? 'WARN   ' : 'PROBLEM';
  return `${tag} ${r.name.padEnd(width)} ${r.detail}`;
}
