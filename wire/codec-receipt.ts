/**
 * RECEIPT body (PROTOCOL.md §3.7): agent id (u8 length + ASCII), outcome u8, upload CRC u32,
 * code (u8 length + ASCII: 0 bytes for accepted and duplicate, an `E_...` code for rejected).
 */
import { RECEIPT_CODE_PATTERN, RECEIPT_OUTCOMES, type ReceiptBody } from './codec-types.ts';
import { checkIdString, checkUint, enumIndex, enumName, fail, type Reader, Writer } from './codec-io.ts';

function checkCode(ctx: string, outcome: ReceiptBody['outcome'], code: unknown): string {
  if (typeof code !== 'string') fail('E_CODEC_FIELD', `${ctx}: code must be a string`, { got: typeof code });
  if (outcome === 'rejected') {
    if (!RECEIPT_CODE_PATTERN.test(code)) {
      fail('E_CODEC_FIELD', `${ctx}: a rejection needs an error code like E_ROUND, got "${code.slice(0, 40)}"`, { got: code });
    }
  } else if (code !== '') {
    fail('E_CODEC_FIELD', `${ctx}: an ${outcome} receipt carries no code, got "${code.slice(0, 40)}"`, { got: code });
  }
  return code;
}

export function encodeReceiptBody(ctx: string, b: ReceiptBody): Uint8Array {
  checkIdString(ctx, 'agent id', b.agent);
  const outcome = enumIndex(ctx, 'outcome', RECEIPT_OUTCOMES, b.outcome);
  const crc = checkUint(ctx, 'upload CRC', b.uploadCrc, 0, 0xffffffff);
  const code = checkCode(ctx, b.outcome, b.code);
  const w = new Writer(40 + code.length);
  w.shortAscii(b.agent);
  w.u8(outcome);
  w.u32(crc);
  w.shortAscii(code);
  return w.finish();
}

export function decodeReceiptBody(r: Reader): ReceiptBody {
  const ctx = r.ctx;
  const agent = r.shortId('agent id');
  const outcome = enumName(ctx, 'outcome', RECEIPT_OUTCOMES, r.u8('outcome'));
  const uploadCrc = r.u32('upload CRC');
  const n = r.u8('code length');
  const code = Buffer.from(r.bytes(n, 'code')).toString('latin1');
  r.finish();
  return { agent, outcome, uploadCrc, code: checkCode(ctx, outcome, code) };
}
