/** What the native core runs on, for callers above the model layer (the service's build information). */
import { native, type Isa } from '../native.js';

export interface BackendInfo {
  /** The instruction set the kernels use now. */
  isa: Isa;
  /** Threads of the shared pool. */
  threads: number;
}

export function backendInfo(): BackendInfo {
  return { isa: native.getIsa(), threads: native.getThreads() };
}
