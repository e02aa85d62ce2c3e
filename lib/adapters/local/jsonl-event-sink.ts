/**
 * The local stand-in for EventBridge: one JSON object per line in
 * `<store dir>/events.jsonl` (`source`, `detail-type`, `detail`), appended and
 * fsynced, so `tail -f` shows events as rules fire.
 */
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { EventSink, PostroomEvent } from '../../ports.ts';

export class JsonlEventSink implements EventSink {
  readonly file: string;

  constructor(file: string) {
    this.file = file;
  }

  async emit(events: PostroomEvent[]): Promise<void> {
    if (events.length === 0) return;
    await mkdir(dirname(this.file), { recursive: true });
    const handle = await open(this.file, 'a');
    try {
      const lines = events
        .map((event) => JSON.stringify({ time: new Date().toISOString(), ...event }))
        .join('\n');
      await handle.write(`${lines}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
  }
}
