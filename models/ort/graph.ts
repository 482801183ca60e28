/**
 * GraphBuilder: names values, emits ONNX nodes, holds constants, and serialises through
 * onnx-proto.ts. Only standard ONNX operators (default domain, opset 17) that onnxruntime's CPU
 * execution provider implements are used.
 */
import { DataType, encodeModel, type AttrValue, type NodeSpec, type TensorSpec, type ValueInfoSpec } from './onnx-proto.ts';

export const OPSET = 17;

export type Attrs = Record<string, number | string | readonly number[] | { floats: readonly number[] } | { float: number }>;

function toAttr(v: Attrs[string]): AttrValue {
  if (typeof v === 'number') return { kind: 'int', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) return { kind: 'ints', value: v as readonly number[] };
  if ('floats' in (v as object)) return { kind: 'floats', value: (v as { floats: readonly number[] }).floats };
  return { kind: 'float', value: (v as { float: number }).float };
}

function rawOf(data: Float32Array | BigInt64Array | Int32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice();
}

export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly initializers: TensorSpec[] = [];
  private readonly inputs: ValueInfoSpec[] = [];
  private readonly outputs: ValueInfoSpec[] = [];
  private readonly constCache = new Map<string, string>();
  private counter = 0;

  constructor(readonly graphName: string) {}

  /** A fresh value name with a readable prefix. */
  fresh(prefix: string): string {
    return `${prefix}__${this.counter++}`;
  }

  /** Emit one node with a single output; returns the output's name. */
  op(opType: string, inputs: readonly string[], attrs: Attrs = {}, hint = opType): string {
    return this.opN(opType, inputs, 1, attrs, hint)[0]!;
  }

  /** Emit one node with `nOut` outputs. */
  opN(opType: string, inputs: readonly string[], nOut: number, attrs: Attrs = {}, hint = opType): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(hint));
    const attributes: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) attributes[k] = toAttr(v);
    this.nodes.push({ opType, inputs, outputs, name: outputs[0]!, attributes });
    return outputs;
  }

  /** Emit a node whose output gets an exact name (graph outputs). */
  named(opType: string, inputs: readonly string[], output: string, attrs: Attrs = {}): string {
    const attributes: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) attributes[k] = toAttr(v);
    this.nodes.push({ opType, inputs, outputs: [output], name: output, attributes });
    return output;
  }

  /** A float32 initializer (not deduplicated: use for weights). */
  tensor(name: string, dims: readonly number[], data: Float32Array): string {
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, raw: rawOf(data) });
    return name;
  }

  /** A small float32 constant, shared between uses. */
  constF(values: readonly number[], dims: readonly number[] = values.length === 1 ? [] : [values.length]): string {
    const key = `f:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (name === undefined) {
      name = this.fresh('cf');
      this.initializers.push({ name, dataType: DataType.FLOAT, dims, raw: rawOf(Float32Array.from(values)) });
      this.constCache.set(key, name);
    }
    return name;
  }

  /** A small int64 constant (shapes, axes), shared between uses. */
  constI(values: readonly number[], dims: readonly number[] = [values.length]): string {
    const key = `i:${dims.join('x')}:${values.join(',')}`;
    let name = this.constCache.get(key);
    if (name === undefined) {
      name = this.fresh('ci');
      this.initializers.push({ name, dataType: DataType.INT64, dims, raw: rawOf(BigInt64Array.from(values.map((v) => BigInt(v)))) });
      this.constCache.set(key, name);
    }
    return name;
  }

  input(name: string, dims: readonly (number | string)[], dataType: DataType = DataType.FLOAT): string {
    this.inputs.push({ name, dataType, dims });
    return name;
  }

  /** Declare `value` a graph output under `name` (an Identity node when the names differ). */
  output(name: string, value: string, dims: readonly (number | string)[], dataType: DataType = DataType.FLOAT): void {
    if (value !== name) this.named('Identity', [value], name);
    this.outputs.push({ name, dataType, dims });
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  toBytes(docString?: string): Uint8Array {
    return encodeModel({
      graphName: this.graphName,
      opset: OPSET,
      nodes: this.nodes,
      initializers: this.initializers,
      inputs: this.inputs,
      outputs: this.outputs,
      ...(docString !== undefined ? { docString } : {}),
    });
  }
}
