/**
 * Host sampling (systeminformation), run by a scheduled job: CPU load, memory, temperatures
 * where the hardware reports them, and the buffer disk. Sampled, never on a request's path.
 */

export interface HostSample {
  at: number;
  cpuLoadPercent: number | null;
  loadAverage1m: number | null;
  memoryTotalBytes: number | null;
  memoryAvailableBytes: number | null;
  temperatures: Array<{ sensor: string; celsius: number }>;
}

/**
 * One sample of the host. systeminformation runs helpers for some figures (`sh -c 'cat …'`, and
 * `sensors` for temperatures where the kernel exposes none); it takes their failures through
 * exec's callbacks (a missing helper gives an empty figure, never an 'error' event), but sets them
 * no time limit, and a `sensors` stuck on a bad I2C bus never returns. A sample therefore rejects
 * after `timeoutMs` (the scheduled job records the failure and the next run tries again; the job
 * never overlaps itself, so without the bound one hung helper would stop host sampling for good).
 */
export async function sampleHost(timeoutMs = 15_000): Promise<HostSample> {
  // Loaded on first sample (after the daemon is ready): it is large and only needed here.
  const { default: si } = await import('systeminformation');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`host sampling did not finish within ${timeoutMs} ms (a hung helper such as sensors?)`)), timeoutMs);
    timer.unref();
  });
  const [load, mem, temp] = await Promise.race([Promise.all([si.currentLoad(), si.mem(), si.cpuTemperature()]), timeout]).finally(() => clearTimeout(timer));
  const temperatures: HostSample['temperatures'] = [];
  if (typeof temp.main === 'number') temperatures.push({ sensor: 'cpu', celsius: temp.main });
  temp.cores?.forEach((celsius, i) => typeof celsius === 'number' && temperatures.push({ sensor: `core${i}`, celsius }));
  if (typeof temp.chipset === 'number') temperatures.push({ sensor: 'chipset', celsius: temp.chipset });
  return {
    at: Date.now(),
    cpuLoadPercent: Number.isFinite(load.currentLoad) ? Math.round(load.currentLoad * 10) / 10 : null,
    loadAverage1m: Number.isFinite(load.avgLoad) ? load.avgLoad : null,
    memoryTotalBytes: mem.total,
    memoryAvailableBytes: mem.available,
    temperatures,
  };
}
