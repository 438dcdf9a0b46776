// What either task keeps while it has a model: the model the worker trains, a second copy
// holding the newest weights the worker sent (the page samples or decodes from it while
// training goes on), the optimizer (kept across trainings, so they continue where the last
// stopped) and the epochs done. The session owns all three; `dispose()` frees them.
import { Adam } from "unfold";

interface Model {
  getWeights(): Record<string, Float32Array>;
  setWeights(weights: Record<string, Float32Array>): void;
  dispose(): void;
}

export class TrainingSession<M extends Model> {
  epochs = 0;
  private optimizer: Adam;
  private lr: number;

  constructor(readonly model: M, readonly viewer: M, lr: number) {
    this.optimizer = new Adam({ lr, clipNorm: 1 });
    this.lr = lr;
    viewer.setWeights(model.getWeights());
  }

  /** The optimizer to train with at learning rate `lr`: the same one, its state kept, unless `lr` changed. */
  optimizerFor(lr: number): Adam {
    if (lr !== this.lr) {
      this.optimizer.dispose();
      this.optimizer = new Adam({ lr, clipNorm: 1 });
      this.lr = lr;
    }
    return this.optimizer;
  }

  dispose(): void {
    this.model.dispose();
    this.viewer.dispose();
    this.optimizer.dispose();
  }
}
