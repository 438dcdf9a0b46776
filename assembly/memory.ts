// Where the TypeScript allocator may start: everything below __heap_base belongs to the
// module's static data (kernel scratch panels included).
export function heap_base(): usize {
  return __heap_base;
}
