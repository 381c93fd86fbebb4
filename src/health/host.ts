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

export async function sampleHost(): Promise<HostSample> {
  // Loaded on first sample (after the daemon is ready): it is large and only needed here.
  const { default: si } = await import('systeminformation');
  const [load, mem, temp] = await Promise.all([si.currentLoad(), si.mem(), si.cpuTemperature()]);
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
