/**
 * The browser SDK, served by Earshot at /sdk/earshot.js (built by `npm run build` into web/dist/sdk, with types):
 *
 *   import { SpeechRecognition, EarshotClient } from '/sdk/earshot.js';   // importing also defines <earshot-dictation>
 */
export { EarshotClient, EarshotError, type ClientEvents, type ClientOptions, type ConnectionState, type SessionFinal } from '../../../src/client/earshot-client.ts';
export type { ServerMessage, SttState } from '../../../src/protocol/seed-messages.ts';
export { MicCapture, MicError } from '../audio/mic-capture.ts';
export { streamUrl, type ConnectionOptions, type TokenSource } from './connection.ts';
export { EarshotDictationElement } from './dictation-element.ts';
export {
  install,
  SpeechRecognition,
  SpeechRecognitionErrorEvent,
  SpeechRecognitionEvent,
  type SpeechRecognitionAlternative,
  type SpeechRecognitionErrorCode,
  type SpeechRecognitionResult,
  type SpeechRecognitionResultList,
} from './speech-recognition.ts';
