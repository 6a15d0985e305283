/** The site's clouds file: read in the sub-manager, and never quoted back where it holds secrets. */
import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCloudAccountsFile } from '../../clouds/accounts.ts';

describe('readCloudAccountsFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'drover-clouds-file-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('reads accounts, and a missing file is no accounts', async () => {
    const path = file(
      'ok.json',
      '[{ "name": "prod-aws", "cloud": "eks", "options": { "region": "eu-west-1" } }]',
    );
    expect(await readCloudAccountsFile(path)).toEqual([
      { name: 'prod-aws', cloud: 'eks', options: { region: 'eu-west-1' } },
    ]);
    expect(await readCloudAccountsFile(join(dir, 'absent.json'))).toEqual([]);
  });

  it('refuses a file that is not JSON without quoting any of it (it may hold a secret)', async () => {
    const secret = 'wJalrXUtnFEMIK7MDENGbPxRfiCY';
    const path = file('bad.json', `[{"name":"a","cloud":"eks","options":{"secretAccessKey":${secret}"}}]`);
    const err = await readCloudAccountsFile(path).then(
      () => new Error('read'),
      (e: unknown) => e as Error,
    );
    expect(err.message).toMatch(/not valid JSON/);
    expect(err.message).not.toContain(secret.slice(0, 6));
  });
});
