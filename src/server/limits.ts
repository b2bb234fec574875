/** The service's default limits, in a module of their own: the CLI shows them in its help without loading the service. */

/** Largest POST /models body by default: an ONNX model or a checkpoint. */
export const DEFAULT_MODEL_BODY_LIMIT = 64 * 1024 * 1024;
