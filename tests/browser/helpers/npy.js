// Minimal .npy (version 1.0) writer: enough for the test runs (little-endian f4, i4, u1).
import { writeFileSync } from 'node:fs';

const DESCR = { Float32Array: '<f4', Int32Array: '<i4', Uint8Array: '|u1', Int64Array: '<i8' };

/** Writes `data` (a typed array) with `shape` to `path`. */
export function writeNpy(path, data, shape) {
  const descr = DESCR[data.constructor.name];
  if (!descr) throw new Error(`unsupported array type ${data.constructor.name}`);
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new Error(`shape ${shape} does not match ${data.length} values`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1; pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  writeFileSync(path, Buffer.concat([pre, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}
