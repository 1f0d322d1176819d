import type { TranscriptionService } from '../pipeline/transcription-service.ts';

type State = { kind: 'loading' } | { kind: 'ready'; service: TranscriptionService } | { kind: 'failed'; error: Error };

/** The shared models as the server sees them: loading, ready or failed to load. */
export class ServiceState {
  private state: State = { kind: 'loading' };
  private given = false;
  private readonly promise: Promise<TranscriptionService>;
  private resolve!: (s: TranscriptionService) => void;
  private reject!: (e: Error) => void;

  constructor(private readonly onReady: (service: TranscriptionService) => void) {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.promise.catch(() => {});
  }

  /** The models, or their loading promise; given once. */
  provide(service: TranscriptionService | Promise<TranscriptionService>): void {
    if (this.given) throw new Error('the server already has a service');
    this.given = true;
    Promise.resolve(service).then(
      (s) => {
        this.state = { kind: 'ready', service: s };
        this.onReady(s);
        this.resolve(s);
      },
      (e: unknown) => {
        const error = e instanceof Error ? e : new Error(String(e));
        this.state = { kind: 'failed', error };
        this.reject(error);
      },
    );
  }

  /** The loaded service, or undefined while loading or after a failure. */
  get current(): TranscriptionService | undefined {
    return this.state.kind === 'ready' ? this.state.service : undefined;
  }

  /** Why loading failed, if it did. */
  get failure(): Error | undefined {
    return this.state.kind === 'failed' ? this.state.error : undefined;
  }

  /** Resolves when the models are loaded; rejects when they failed to. */
  whenReady(): Promise<TranscriptionService> {
    return this.promise;
  }

  /** The model names the server answers with: the loaded one, or the configured one until then. */
  modelNames(configured: string): string[] {
    return [this.current?.finalEngine.name ?? configured];
  }
}
