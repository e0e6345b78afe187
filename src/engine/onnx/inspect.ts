import { fromBinary } from "@bufbuild/protobuf";
import * as O from "onnx-buf";

/** How many nodes of each op type a serialised ONNX model has (for tests and profiling). */
export function opCounts(model: Uint8Array): Map<string, number> {
  const m = fromBinary(O.ModelProtoSchema, model);
  const counts = new Map<string, number>();
  for (const n of m.graph?.node ?? []) {
    const op = n.domain ? `${n.domain}.${n.opType}` : n.opType;
    counts.set(op, (counts.get(op) ?? 0) + 1);
  }
  return counts;
}
