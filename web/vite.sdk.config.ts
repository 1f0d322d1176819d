import { transform } from 'esbuild';
import { defineConfig, type Plugin } from 'vite';

// The browser SDK (web/src/sdk/earshot.ts) as one minified ES module, web/dist/sdk/earshot.js, which `earshot serve`
// serves at /sdk/earshot.js. Run after the app's build (which empties web/dist): `npm run build:web` does both.
const root = decodeURIComponent(new URL('.', import.meta.url).pathname);

/**
 * Vite keeps whitespace in ES library output (for tree-shaking annotations) and re-prints it after every plugin's
 * renderChunk; this module is used as it is, so it is minified once more when the bundle is final. esbuild reads the
 * chunk's own source map from the inline comment, so the map still points at the TypeScript sources.
 */
const minifyAll: Plugin = {
  name: 'earshot-minify-all',
  enforce: 'post',
  async generateBundle(_options, bundle) {
    for (const chunk of Object.values(bundle)) {
      if (chunk.type !== 'chunk' || !chunk.map) continue;
      const inlineMap = `\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(chunk.map.toString()).toString('base64')}`;
      const out = await transform(chunk.code + inlineMap, { minify: true, format: 'esm', target: 'es2022', sourcemap: 'external', sourcefile: chunk.fileName });
      chunk.code = `${out.code}//# sourceMappingURL=${chunk.fileName}.map\n`;
      Object.assign(chunk.map, JSON.parse(out.map));
    }
  },
};

export default defineConfig({
  root,
  // Relative: the worklet is found next to the module (new URL(..., import.meta.url)) wherever it is served from.
  base: './',
  publicDir: false,
  plugins: [minifyAll],
  build: {
    outDir: 'dist/sdk',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    minify: true,
    lib: { entry: 'src/sdk/earshot.ts', formats: ['es'], fileName: () => 'earshot.js' },
  },
  worker: { format: 'es' },
});
