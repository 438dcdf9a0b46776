// Unfold: recurrent neural networks on a WebAssembly SIMD core.
export { init, initSync, Tensor, UnfoldError } from "./engine/index.js";
export type { DType, NestedArray, TensorData } from "./engine/index.js";
export { Rng } from "./data/rng.js";
export { Layer, type RunContext } from "./layers/layer.js";
export {
  RecurrentLayer, CellLayer, torchParamName, fromTorchStateDict,
  type RecurrentOptions, type StackableOptions, type SkipMode, type LayerConfig,
} from "./layers/recurrent.js";
export { LSTM, type LSTMOptions } from "./layers/lstm.js";
export { GRU, type GRUOptions } from "./layers/gru.js";
export { Elman, type ElmanOptions } from "./layers/elman.js";
export { Jordan, type JordanOptions } from "./layers/jordan.js";
export { Dense, type DenseOptions, type Activation } from "./layers/dense.js";
export { Dropout, type DropoutOptions } from "./layers/dropout.js";
export { Stack, type StackOptions } from "./layers/stack.js";
export { Bidirectional, type BidirectionalOptions, type MergeMode } from "./layers/bidirectional.js";
export { Embedding, type EmbeddingOptions } from "./layers/embedding.js";
export { SequencePooling, type SequencePoolingOptions, type PoolingMode } from "./layers/pooling.js";
export { Loss, type LossName, type LossOptions } from "./layers/losses.js";
export {
  Sequential, type SequentialOptions, type ModelConfig, type ContextOptions, type ContextMode, type ForwardOptions, type BatchOptions, type FeedbackOptions, type StepResult,
} from "./models/sequential.js";
export { checkGradients, type GradientCheckInput, type GradientCheckOptions, type GradientCheckResult } from "./train/gradcheck.js";
export {
  Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad,
  type OptimizerState, type LearningRate, type SGDOptions, type AdamOptions, type AdamWOptions, type RMSpropOptions, type AdagradOptions,
} from "./train/optimizers.js";
export { stepDecay, exponentialDecay, cosineDecay, warmup, linearRamp, type Schedule } from "./train/schedules.js";
export { fit, evaluate, predict, type FitOptions, type History, type Logs, type Metric, type TrainingData, type BatchData, type BatchSource, type EarlyStoppingOptions } from "./train/fit.js";
export { saveCheckpoint, loadCheckpoint, type TrainingProgress } from "./train/checkpoint.js";
export { SequenceDataset, type ArrayInput, type ShapedArray, type SequenceDatasetOptions, type BatchExtras } from "./data/dataset.js";
export { padSequences, type PadOptions, type PaddedBatch } from "./data/padding.js";
export { addingProblem, signProblem } from "./data/tasks.js";
export { readSafetensors, writeSafetensors, type SafeTensor, type SafeDType } from "./io/safetensors.js";
export { registerLayer, layerFromConfig, layerConfig, isRegisteredLayer, registeredLayerKinds, type LayerFactory } from "./layers/registry.js";
export { MODEL_FORMAT, MODEL_FORMAT_VERSION } from "./io/model-file.js";
export { importTorch, exportTorch, torchModuleFor, type TorchModules, type TorchImportOptions } from "./io/torch.js";
export { importTfjs, type TfjsImportOptions, type TfjsWeightData } from "./io/tfjs.js";
export { saveToIndexedDB, loadFromIndexedDB, deleteFromIndexedDB, toBlob, saveFile, loadFile, type IndexedDBOptions } from "./io/storage.js";
export {
  EchoStateNetwork, estimateSpectralRadius, choleskySolve, nrmse,
  type EchoStateOptions, type ResolvedEchoStateOptions, type OnlineFitOptions, type SparseReservoir,
} from "./models/esn.js";
export { mackeyGlass, type MackeyGlassOptions } from "./data/mackey-glass.js";
export {
  trainInWorker, serveTrainingWorker, type WorkerTrainingOptions, type Seq2SeqWorkerTrainingOptions, type WorkerHooks, type Seq2SeqBatchLogs, type WorkerLike,
} from "./worker/index.js";
export { RecursiveNet, type RecursiveNetOptions, type ResolvedRecursiveNetOptions, type TreeCell, type TreeFitOptions } from "./models/recursive.js";
export {
  arithmeticTrees, evaluateMod10, expressionText, treeDepth, PLUS, TIMES, type BinaryTree, type ArithmeticTreesOptions,
} from "./data/expressions.js";
export { NTM, NTM_MEMORY_INIT, type NTMOptions, type ResolvedNTMOptions } from "./models/ntm.js";
export { copyTaskBatch, bitErrors, type CopyBatch } from "./data/copy-task.js";
export { Attention, ATTENTION_SCORES, type AttentionOptions, type AttentionScore } from "./layers/attention.js";
export {
  Seq2Seq, fitSeq2Seq,
  type Seq2SeqOptions, type Seq2SeqConfig, type Seq2SeqData, type Seq2SeqAttentionOptions, type Seq2SeqFitOptions, type Seq2SeqLogs, type Seq2SeqEvaluation,
  type ConditionMode, type BridgeMode, type Hypothesis, type DecodeOptions, type BeamSearchOptions, type SampleOptions, type ScheduledSamplingOptions,
} from "./models/seq2seq.js";
export { generate, perplexity, textWindows, TokenSampler, sampleFromProbabilities, resolveSampling, type GenerateOptions, type SamplingOptions, type ResolvedSampling } from "./models/generate.js";
export {
  Tokenizer, CharTokenizer, WordTokenizer, tokenizerFromJSON, SPECIAL_TOKENS,
  type TokenizerJSON, type TokenizerType, type VocabularyOptions, type WordTokenizerOptions, type EncodeOptions, type TokenDecodeOptions,
} from "./data/tokenizers.js";
export { reverseTask, additionTask, longSourceTask, fableText, encodePairs, splitPairs, type TextPairs, type ReverseTaskOptions, type AdditionTaskOptions } from "./data/seq2seq-tasks.js";
