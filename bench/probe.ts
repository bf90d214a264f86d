import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { Session } from 'node:inspector';
import * as path from 'node:path';

/**
 * Loaded into the Node-RED process under test through `functionGlobalContext` (settings.js), so that the
 * benchmark flows' function nodes can read the process's own memory: `global.get('benchProbe')`.
 * Peak RSS comes from the kernel's high-water mark (VmHWM, reset through /proc/self/clear_refs) where the
 * kernel allows it, and from sampling every 10 ms otherwise; the larger of the two is reported.
 * With BENCH_CPU_PROF_DIR set (run.ts --profile DIR), the same window is CPU-profiled into a .cpuprofile
 * file there (Node refuses --cpu-prof in NODE_OPTIONS, so the profiler is driven through the inspector).
 */
let sampledPeak = 0;
let cpuAtStart = process.cpuUsage();
let mainCpuAtStart: number | undefined;
let threadsAtStart = new Map<string, number>();
let sampler: NodeJS.Timeout | undefined;
let kernelPeakReset = false;

function kernelPeakBytes(): number | undefined {
  try {
    const match = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Starts a new peak measurement from the current RSS. */
export function startPeak(): number {
  try {
    // "5" resets the peak RSS (Documentation/filesystems/proc.rst, clear_refs).
    fs.writeFileSync('/proc/self/clear_refs', '5');
    kernelPeakReset = true;
  } catch {
    kernelPeakReset = false;
  }
  sampledPeak = process.memoryUsage.rss();
  cpuAtStart = process.cpuUsage();
  mainCpuAtStart = mainThreadCpuMs();
  threadsAtStart = threadCpuMs();
  startProfile();
  if (!sampler) {
    sampler = setInterval(() => {
      sampledPeak = Math.max(sampledPeak, process.memoryUsage.rss());
    }, 10);
    sampler.unref();
  }
  return sampledPeak;
}

/** Peak RSS in bytes since startPeak(); stops the sampler. */
export function peak(): number {
  if (sampler) clearInterval(sampler);
  sampler = undefined;
  stopProfile();
  const sampled = Math.max(sampledPeak, process.memoryUsage.rss());
  const kernel = kernelPeakReset ? kernelPeakBytes() : undefined;
  return Math.max(sampled, kernel ?? 0);
}

/**
 * CPU time (user + system) of the Node-RED process since startPeak(), in ms. On a machine shared with other
 * work this is steadier than wall-clock rates: CPU per message is what the flow costs wherever it runs.
 */
export function cpuMs(): number {
  const used = process.cpuUsage(cpuAtStart);
  return (used.user + used.system) / 1000;
}

/**
 * CPU time of the main thread alone (the event loop every flow shares) since startPeak(), in ms; the rest of
 * cpuMs() ran on other threads (the consent store's thread, garbage collection helpers, libuv's file system
 * pool). Undefined where /proc does not show threads.
 */
export function mainCpuMs(): number | undefined {
  const now = mainThreadCpuMs();
  return now === undefined || mainCpuAtStart === undefined ? undefined : now - mainCpuAtStart;
}

/**
 * CPU time since startPeak() of the busiest thread other than the main one, in ms: with a consent store that is the
 * store's thread (threads are all named "node", so it is told by its share, not its name). Undefined without /proc.
 */
export function busiestOtherThreadCpuMs(): number | undefined {
  const now = threadCpuMs();
  if (now.size === 0) return undefined;
  let busiest = 0;
  for (const [tid, ms] of now) {
    if (tid !== String(process.pid)) busiest = Math.max(busiest, ms - (threadsAtStart.get(tid) ?? 0));
  }
  return busiest;
}

/** utime + stime of each thread of this process, by task id, in ms. Empty where /proc does not show threads. */
function threadCpuMs(): Map<string, number> {
  const threads = new Map<string, number>();
  try {
    for (const tid of fs.readdirSync('/proc/self/task')) {
      const stat = fs.readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      threads.set(tid, ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond());
    }
  } catch {
    // A thread that ended between readdir and read, or no /proc: what was read so far.
  }
  return threads;
}

/** utime and stime of the main thread (its task id is the process id), fields 14 and 15, in clock ticks. */
function mainThreadCpuMs(): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicksPerSecond();
  } catch {
    return undefined;
  }
}

let ticks: number | undefined;

/** sysconf(_SC_CLK_TCK), 100 on every common Linux. */
function clockTicksPerSecond(): number {
  if (ticks === undefined) {
    try {
      ticks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticks = 100;
    }
  }
  return ticks;
}

export function rss(): number {
  return process.memoryUsage.rss();
}

let profiler: Session | undefined;

function startProfile(): void {
  const dir = process.env.BENCH_CPU_PROF_DIR;
  if (!dir || profiler) return;
  profiler = new Session();
  profiler.connect();
  profiler.post('Profiler.enable');
  profiler.post('Profiler.start');
}

function stopProfile(): void {
  const session = profiler;
  const dir = process.env.BENCH_CPU_PROF_DIR;
  if (!session || !dir) return;
  profiler = undefined;
  session.post('Profiler.stop', (err, result) => {
    session.disconnect();
    if (err) return;
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(
      path.join(dir, `node-red-${process.pid}-${Date.now()}.cpuprofile`),
      JSON.stringify(result.profile),
    );
  });
}
