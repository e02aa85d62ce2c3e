/** What bin/postroom.js and bin/start.js load: the CLI and the `npm start` mode choice. */
export { chooseStartMode } from '../sandbox/demo/start-mode.ts';
export { main } from './main.ts';
