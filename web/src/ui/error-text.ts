/** Error codes (client and server) in plain words. Pure. */
const MESSAGES: Record<string, string> = {
  MIC_ACCESS_DENIED:
    'Microphone access was denied. Allow this site to use the microphone (the icon in the address bar), then press the microphone button again.',
  MIC_NOT_FOUND: 'No microphone was found. Plug one in or check your system sound settings, then try again.',
  MIC_BUSY: 'The microphone could not be started. Another application may be using it.',
  MIC_UNSUPPORTED: 'This page cannot use the microphone here. Open it over https or from localhost in a current browser.',
  MIC_ENDED: 'The microphone stopped (it may have been unplugged). Press the microphone button to start again.',
  MIC_ERROR: 'Something went wrong while starting the microphone.',
  MODEL_LOAD_ERROR: 'The server could not load its speech model, so it cannot transcribe right now.',
  PROCESSING_TIMEOUT: 'The server took too long to transcribe. Please try again.',
  NOT_CONNECTED: 'Not connected to the server. Your message will be sent when the connection comes back.',
  CLIPBOARD_FAILED: 'Could not copy to the clipboard. Use the download button instead.',
};

/** A sentence for the user; the raw server text is kept for codes we do not know. */
export function describeError(code: string | undefined, detail?: string): string {
  const known = code ? MESSAGES[code] : undefined;
  if (known) return known;
  const text = detail?.trim();
  if (text) return `The server reported a problem: ${text}`;
  return code ? `The server reported a problem (${code}).` : 'Something went wrong.';
}
