import { defineConfig } from 'vite';

// The web client lives in web/ and builds to web/dist, which `earshot serve` serves at /.
// Run from the repository root: `npm run build:web` (vite build --config web/vite.config.ts).
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

export default defineConfig({
  root,
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
  },
  // The AudioWorklet module is imported with `?worker&url`: Vite bundles it like a worker (TypeScript compiled,
  // imports inlined) and hands back its URL for audioWorklet.addModule(). addModule loads ES modules.
  worker: { format: 'es' },
  server: {
    // `vite --config web/vite.config.ts` for development against a running `earshot serve` on port 8000.
    proxy: {
      '/ws': { target: 'ws://127.0.0.1:8000', ws: true },
      '/ready': 'http://127.0.0.1:8000',
      '/health': 'http://127.0.0.1:8000',
    },
  },
});
