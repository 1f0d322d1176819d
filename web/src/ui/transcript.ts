/** The conversation as plain text, for copy and download. Pure. */
export interface TranscriptEntry {
  role: 'user' | 'assistant';
  text: string;
  time: Date;
}

function hhmmss(d: Date): string {
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function formatTranscript(entries: readonly TranscriptEntry[]): string {
  return entries
    .filter((e) => e.text.trim())
    .map((e) => `[${hhmmss(e.time)}] ${e.role === 'user' ? 'You' : 'Assistant'}: ${e.text.trim()}`)
    .join('\n')
    .concat(entries.length ? '\n' : '');
}

/** earshot-conversation-2024-05-01-1432.txt */
export function transcriptFileName(now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `earshot-conversation-${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}.txt`;
}
