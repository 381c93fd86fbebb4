/**
 * A built-in synthetic site for `npm start` and demos: instruments at realistic rates producing
 * JSON readings, so a fresh install shows data flowing before any real instrument is wired.
 * (The full site simulator over real transports is `skyhaul simulate`.)
 */
import type { Input, InputContext, InputStatus } from '../input.ts';
import { InputStatusTracker } from '../input.ts';

interface Instrument {
  stream: string;
  hz: number;
  reading: (t: number, n: number) => Record<string, unknown>;
}

/** The `small` profile: about ten instruments, about 20 readings per second. */
const SMALL_SITE: Instrument[] = [
  { stream: 'weather/wxt536', hz: 1, reading: (t) => ({ Ta: 11.2 + Math.sin(t / 6e5) * 3, Ua: 34.5, Pa: 744.1, Sm: 3.1 + Math.random(), Dm: 270 + Math.round(Math.random() * 20) }) },
  { stream: 'wind/windsonic', hz: 4, reading: () => ({ dir: 250 + Math.round(Math.random() * 40), speed: +(4 + Math.random() * 2).toFixed(2) }) },
  { stream: 'gps/time', hz: 1, reading: (t) => ({ utc: new Date(t).toISOString(), fix: 1, sats: 9, hdop: 0.9 }) },
  { stream: 'cloud/boltwood', hz: 0.2, reading: () => ({ skyMinusAmbient: -28.5 + Math.random(), rain: false, wet: false }) },
  { stream: 'sky/sqm', hz: 1 / 30, reading: () => ({ mpsas: 21.4 + Math.random() * 0.2, temp: 9.8 }) },
  { stream: 'power/ups', hz: 0.1, reading: () => ({ charge: 100, load: 31, status: 'OL' }) },
  { stream: 'dome/status', hz: 0.5, reading: () => ({ shutter: 'open', azimuth: 181.2 }) },
  { stream: 'mount/encoders', hz: 10, reading: (t) => ({ alt: 45 + Math.sin(t / 1e6), az: 180 + Math.cos(t / 1e6) }) },
  { stream: 'lightning/ld250', hz: 1 / 60, reading: () => ({ strikesPerMinute: 0, closeAlarm: false, severeAlarm: false }) },
  { stream: 'alarms/site', hz: 1 / 120, reading: (_t, n) => ({ heartbeat: n }) },
];

export interface SyntheticInputConfig {
  name: string;
  profile: 'small';
  rateScale: number;
}

export class SyntheticInput implements Input {
  readonly type = 'synthetic';
  readonly name: string;
  private readonly tracker: InputStatusTracker;
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly config: SyntheticInputConfig,
    private readonly context: InputContext,
  ) {
    this.name = config.name;
    this.tracker = new InputStatusTracker(config.name, this.type);
  }

  async start(): Promise<void> {
    if (this.timers.length > 0) return;
    for (const instrument of SMALL_SITE) {
      let n = 0;
      const periodMs = 1000 / (instrument.hz * this.config.rateScale);
      const timer = setInterval(() => {
        n += 1;
        const now = Date.now();
        this.tracker.received();
        this.context.sink
          .append({
            stream: `${this.name}/${instrument.stream}`,
            payload: Buffer.from(JSON.stringify(instrument.reading(now, n))),
            contentType: 'application/json',
            schemaRef: `skyhaul.synthetic.${instrument.stream.split('/')[0]}/v1`,
            sourceTime: now,
          })
          .then(
            () => this.tracker.committed(),
            (error: Error) => {
              this.tracker.rejected();
              this.context.logger.warn({ input: this.name, err: error.message }, 'synthetic reading not buffered');
            },
          );
      }, periodMs);
      this.timers.push(timer);
    }
    this.tracker.setState('running');
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearInterval(timer);
    this.timers = [];
    this.tracker.setState('stopped');
  }

  status(): InputStatus {
    return this.tracker.snapshot();
  }
}
