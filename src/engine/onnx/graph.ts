import { create, toBinary } from "@bufbuild/protobuf";
import * as O from "onnx-buf";
import { dimString, isSym, type Dim } from "./dims.js";

/**
 * A small builder for one ONNX graph: nodes, initializers (constants,
 * deduplicated), graph inputs/outputs, shape tensors (which may depend on
 * the runtime batch), and the serialised ModelProto.
 */

/** jax-js dtypes and their ONNX element types. */
export type DType = "float32" | "int32" | "uint32" | "bool" | "float16" | "float64";

const elemTypes: Record<DType, O.TensorProto_DataType> = {
  float32: O.TensorProto_DataType.FLOAT,
  int32: O.TensorProto_DataType.INT32,
  uint32: O.TensorProto_DataType.UINT32,
  bool: O.TensorProto_DataType.BOOL,
  float16: O.TensorProto_DataType.FLOAT16,
  float64: O.TensorProto_DataType.DOUBLE,
};

export function elemType(dtype: string): O.TensorProto_DataType {
  const t = elemTypes[dtype as DType];
  if (t === undefined) throw new Error(`onnx lowering: dtype ${dtype} is not supported (float32, int32, uint32, bool, float16, float64)`);
  return t;
}

/** The ONNX opset the lowering targets (ReduceX take axes as an input from 18 on). */
export const OPSET = 18;

/** Attribute values: integer -> INT, integer[] -> INTS, string -> STRING, {f} -> FLOAT. */
export type Attr = number | number[] | string | { f: number };

/** Data of a constant: a typed array in the dtype's layout (bool as 0/1 bytes). */
export type ConstData = Float32Array | Int32Array | Uint32Array | Uint8Array | Float64Array | Uint16Array;

/** An int64 "as large as any dimension": Slice clamps it to the axis. */
export const BIG = Number.MAX_SAFE_INTEGER;

export class GraphBuilder {
  private readonly nodes: O.NodeProto[] = [];
  private readonly inits: O.TensorProto[] = [];
  private readonly inputs: O.ValueInfoProto[] = [];
  private readonly outputs: O.ValueInfoProto[] = [];
  private readonly constCache = new Map<string, string>();
  private readonly batchCache = new Map<string, string>();
  private readonly renames = new Map<string, string>();
  private readonly domains = new Set<string>();
  private readonly byOutput = new Map<string, O.NodeProto>();
  private readonly intValues = new Map<string, readonly number[]>();
  private batchSource?: { input: string; axis: number; k: number; c: number };
  private count = 0;

  fresh(prefix = "t"): string {
    return `${prefix}${this.count++}`;
  }

  /**
   * Add a node with `outputs` fresh outputs (or the given names); returns the
   * output names. `op` may name a domain: "com.microsoft.QuickGelu" (ONNX
   * Runtime's contrib ops, version 1).
   */
  node(op0: string, inputs: string[], attrs: Record<string, Attr> = {}, outputs: number | string[] = 1): string[] {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh()) : outputs;
    const dot = op0.lastIndexOf(".");
    const [domain, op] = dot < 0 ? ["", op0] : [op0.slice(0, dot), op0.slice(dot + 1)];
    if (domain) this.domains.add(domain);
    const node = create(O.NodeProtoSchema, {
      opType: op,
      domain,
      name: this.fresh(op + "_"),
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([name, v]) => attribute(name, v)),
    });
    this.nodes.push(node);
    for (const o of outs) this.byOutput.set(o, node);
    return outs;
  }

  /** A single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.node(op, inputs, attrs)[0];
  }

  /** A constant tensor (an initializer); identical small constants are shared. */
  constant(dtype: DType | "int64", shape: readonly number[], data: ConstData | BigInt64Array, name?: string): string {
    const key = data.byteLength <= 64 && !name ? `${dtype}|${shape.join(",")}|${Array.from(data as ArrayLike<number | bigint>).join(",")}` : undefined;
    const hit = key && this.constCache.get(key);
    if (hit) return hit;
    const tensorName = name ?? this.fresh("c");
    this.inits.push(
      create(O.TensorProtoSchema, {
        name: tensorName,
        dataType: dtype === "int64" ? O.TensorProto_DataType.INT64 : elemType(dtype),
        dims: shape.map((d) => BigInt(d)),
        rawData: new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength)) as Uint8Array<ArrayBuffer>,
      }),
    );
    if (key) this.constCache.set(key, tensorName);
    return tensorName;
  }

  /** A scalar (rank 0) constant of a jax-js dtype. */
  scalar(dtype: DType, value: number | boolean): string {
    return this.constant(dtype, [], typedOf(dtype, [Number(value)]));
  }

  /** A 1-D int64 constant (shapes, axes, pads). */
  ints(values: readonly number[]): string {
    const name = this.constant("int64", [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
    this.intValues.set(name, [...values]);
    return name;
  }

  /** The values of a constant made by ints(), if `name` is one. */
  intsOf(name: string): readonly number[] | undefined {
    return this.intValues.get(name);
  }

  /** The node that outputs `name`: its op (with domain), inputs and integer-list attributes. */
  producer(name: string): { op: string; inputs: readonly string[]; ints: Record<string, number[]> } | undefined {
    const n = this.byOutput.get(name);
    if (!n) return undefined;
    const ints: Record<string, number[]> = {};
    for (const a of n.attribute) if (a.ints.length) ints[a.name] = a.ints.map(Number);
    return { op: n.domain ? `${n.domain}.${n.opType}` : n.opType, inputs: n.input, ints };
  }

  /**
   * Where the runtime batch is read from: axis `axis` of graph input `input`,
   * whose size is k * batch + c.
   */
  setBatchSource(input: string, axis: number, k: number, c: number): void {
    this.batchSource ??= { input, axis, k, c };
  }

  /**
   * A 1-D int64 tensor holding `dims`; a batch-dependent entry is computed
   * from the batch source (Shape -> Mul/Add), and the result is shared.
   */
  dims(dims: readonly Dim[]): string {
    if (!dims.some(isSym)) return this.ints(dims as number[]);
    const key = dims.map(dimString).join(",");
    const hit = this.batchCache.get(key);
    if (hit) return hit;
    const parts: string[] = [];
    let run: number[] = [];
    const flush = () => {
      if (run.length) parts.push(this.ints(run));
      run = [];
    };
    for (const d of dims) {
      if (!isSym(d)) run.push(d);
      else {
        flush();
        parts.push(this.affineBatch(d.k, d.c));
      }
    }
    flush();
    const out = parts.length === 1 ? parts[0] : this.op("Concat", parts, { axis: 0 });
    this.batchCache.set(key, out);
    return out;
  }

  /** k * batch + c as an int64 [1] tensor. */
  private affineBatch(k: number, c: number): string {
    const key = `affine|${k}|${c}`;
    const hit = this.batchCache.get(key);
    if (hit) return hit;
    const src = this.batchSource;
    if (!src) throw new Error("onnx lowering: a shape depends on the batch but no input carries the batch");
    let out: string;
    if (k === src.k && c === src.c) out = this.op("Shape", [src.input], { start: src.axis, end: src.axis + 1 });
    else {
      let batch = this.affineBatch(src.k, src.c);
      if (src.c !== 0) batch = this.op("Sub", [batch, this.ints([src.c])]);
      if (src.k !== 1) batch = this.op("Div", [batch, this.ints([src.k])]);
      out = k === 1 ? batch : this.op("Mul", [batch, this.ints([k])]);
      if (c !== 0) out = this.op("Add", [out, this.ints([c])]);
    }
    this.batchCache.set(key, out);
    return out;
  }

  /**
   * The shape input of a Reshape to `dims`: a constant, with -1 standing for
   * the one batch-dependent entry when there is exactly one.
   */
  reshapeTarget(dims: readonly Dim[]): string {
    const syms = dims.filter(isSym).length;
    if (syms === 1) return this.ints(dims.map((d) => (isSym(d) ? -1 : d)));
    return this.dims(dims);
  }

  addInput(name: string, dtype: DType, shape: readonly Dim[]): void {
    this.inputs.push(valueInfo(name, dtype, shape));
  }

  addOutput(name: string, dtype: DType, shape: readonly Dim[]): void {
    this.outputs.push(valueInfo(name, dtype, shape));
  }

  /** Rename a node output everywhere (gives graph outputs their names; applied by model()). */
  rename(from: string, to: string): void {
    this.renames.set(from, to);
  }

  /** Give the node that outputs `output` one more input (e.g. a Conv its bias). */
  appendInput(output: string, input: string): void {
    const node = this.byOutput.get(output);
    if (!node) throw new Error(`onnx lowering: internal: no node outputs ${output}`);
    node.input.push(input);
  }

  /** Is `name` the output of some node (not a graph input or an initializer)? */
  isNodeOutput(name: string): boolean {
    return this.byOutput.has(name);
  }

  model(doc: string): Uint8Array {
    const r = (x: string) => this.renames.get(x) ?? x;
    for (const n of this.nodes) {
      n.input = n.input.map(r);
      n.output = n.output.map(r);
    }
    // Nodes whose outputs nothing reads (a reshape that a later one skipped) are left out.
    // (A node may read a later node's output: a conv's folded bias.)
    const producer = new Map<string, O.NodeProto>();
    for (const n of this.nodes) for (const o of n.output) producer.set(o, n);
    const needed = new Set<string>();
    const live = new Set<O.NodeProto>();
    const stack = this.outputs.map((o) => o.name);
    while (stack.length) {
      const x = stack.pop()!;
      if (needed.has(x)) continue;
      needed.add(x);
      const n = producer.get(x);
      if (n && !live.has(n)) {
        live.add(n);
        stack.push(...n.input);
      }
    }
    const graph = create(O.GraphProtoSchema, {
      name: "udm",
      node: this.nodes.filter((n) => live.has(n)),
      initializer: this.inits.filter((t) => needed.has(t.name)),
      input: this.inputs,
      output: this.outputs,
    });
    return toBinary(
      O.ModelProtoSchema,
      create(O.ModelProtoSchema, {
        irVersion: 8n,
        producerName: "udm",
        docString: doc,
        opsetImport: [
          create(O.OperatorSetIdProtoSchema, { domain: "", version: BigInt(OPSET) }),
          ...[...this.domains].map((domain) => create(O.OperatorSetIdProtoSchema, { domain, version: 1n })),
        ],
        graph,
      }),
    );
  }
}

function attribute(name: string, v: Attr): O.AttributeProto {
  const T = O.AttributeProto_AttributeType;
  if (typeof v === "number") {
    if (!Number.isInteger(v)) throw new Error(`onnx lowering: attribute ${name} = ${v} must be an integer (use {f} for floats)`);
    return create(O.AttributeProtoSchema, { name, type: T.INT, i: BigInt(v) });
  }
  if (typeof v === "string") return create(O.AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(v) as Uint8Array<ArrayBuffer> });
  if (Array.isArray(v)) return create(O.AttributeProtoSchema, { name, type: T.INTS, ints: v.map((x) => BigInt(x)) });
  return create(O.AttributeProtoSchema, { name, type: T.FLOAT, f: v.f });
}

function valueInfo(name: string, dtype: DType, shape: readonly Dim[]): O.ValueInfoProto {
  const dim = shape.map((d) =>
    create(O.TensorShapeProto_DimensionSchema, {
      value: isSym(d) ? { case: "dimParam", value: dimString(d) } : { case: "dimValue", value: BigInt(d) },
    }),
  );
  return create(O.ValueInfoProtoSchema, {
    name,
    type: create(O.TypeProtoSchema, {
      value: {
        case: "tensorType",
        value: create(O.TypeProto_TensorSchema, { elemType: elemType(dtype), shape: create(O.TensorShapeProtoSchema, { dim }) }),
      },
    }),
  });
}

/** A typed array of the dtype's layout holding `values`. */
export function typedOf(dtype: DType, values: ArrayLike<number>): ConstData {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "int32":
      return Int32Array.from(values);
    case "uint32":
      return Uint32Array.from(values);
    case "bool":
      return Uint8Array.from(values, (v) => (v ? 1 : 0));
    case "float64":
      return Float64Array.from(values);
    case "float16":
      throw new Error("onnx lowering: float16 constants are not supported");
  }
}
