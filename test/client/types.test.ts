/**
 * Typed events are checked at compile time: compile fixtures/typed-usage.ts with the
 * project's compiler options. Every `@ts-expect-error` there must meet an error (or tsc
 * reports the directive as unused), and nothing else may fail.
 */
import t from 'tap';
import ts from 'typescript';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

t.test('emit and on are checked against the event maps', async (t) => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const configPath = ts.findConfigFile(here, ts.sys.fileExists, 'tsconfig.json')!;
  const config = ts.getParsedCommandLineOfConfigFile(configPath, {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const fixture = path.join(here, 'fixtures', 'typed-usage.ts');
  const program = ts.createProgram([fixture], { ...config.options, noEmit: true });
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file && d.start !== undefined ? `${path.basename(d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : '';
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
  });
  t.same(diagnostics, [], 'no errors, and every @ts-expect-error met one');
  const expected = ts.sys.readFile(fixture)!.match(/@ts-expect-error/g)!.length;
  t.ok(expected >= 10, `${expected} misuses are rejected by the compiler`);
});
