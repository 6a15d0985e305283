import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  LabelSelectorText,
  Labels,
  SelectorParseError,
  formatSelector,
  matches,
  parseSelector,
  selectorFromMatchLabels,
  validateLabelKey,
  validateLabelValue,
} from '../../domain/selectors.ts';
import type { Requirement, Selector } from '../../domain/selectors.ts';

const exists = (key: string): Requirement => ({ key, operator: 'Exists', values: [] });
const absent = (key: string): Requirement => ({ key, operator: 'DoesNotExist', values: [] });
const eq = (key: string, value: string): Requirement => ({ key, operator: 'Equals', values: [value] });
const ne = (key: string, value: string): Requirement => ({ key, operator: 'NotEquals', values: [value] });
const inSet = (key: string, ...values: string[]): Requirement => ({ key, operator: 'In', values });
const notIn = (key: string, ...values: string[]): Requirement => ({ key, operator: 'NotIn', values });

/** The SelectorParseError that parsing `text` throws (failing the test if it parses). */
const parseError = (text: string): SelectorParseError => {
  try {
    parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorParseError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(text)} not to parse`);
};

describe('parseSelector', () => {
  it.each<[string, Requirement[]]>([
    ['', []],
    ['  \t\n ', []],
    ['env=prod', [eq('env', 'prod')]],
    ['env==prod', [eq('env', 'prod')]],
    ['env!=prod', [ne('env', 'prod')]],
    ['tier in (web,api)', [inSet('tier', 'api', 'web')]],
    ['tier notin (web)', [notIn('tier', 'web')]],
    ['gpu', [exists('gpu')]],
    ['!gpu', [absent('gpu')]],
    // As in Kubernetes, a missing value is the empty value.
    ['env=', [eq('env', '')]],
    ['env==', [eq('env', '')]],
    ['env!=', [ne('env', '')]],
    ['env=,tier', [eq('env', ''), exists('tier')]],
    // `in` / `notin` values are a set: sorted, deduplicated, an omitted item is the empty value.
    ['a in (b,a,b)', [inSet('a', 'a', 'b')]],
    ['a in (x,)', [inSet('a', '', 'x')]],
    ['a notin (,x)', [notIn('a', '', 'x')]],
    ['a in (,)', [inSet('a', '')]],
    ['a in(x)', [inSet('a', 'x')]],
    ['app.kubernetes.io/name=web-1', [eq('app.kubernetes.io/name', 'web-1')]],
    ['A_b.C-9=Z_9.x-Y', [eq('A_b.C-9', 'Z_9.x-Y')]],
    // The keywords are only keywords in the operator position.
    ['a=in,b in (in,notin)', [eq('a', 'in'), inSet('b', 'in', 'notin')]],
    ['in=notin,notin', [eq('in', 'notin'), exists('notin')]],
    ['in in (in)', [inSet('in', 'in')]],
    [
      'a,b=c,!d,e in (f),g notin (h),i!=j',
      [exists('a'), eq('b', 'c'), absent('d'), inSet('e', 'f'), notIn('g', 'h'), ne('i', 'j')],
    ],
    [
      ' env = prod , tier in ( web , api ) , ! gpu , x != y , z notin ( a ) ',
      [eq('env', 'prod'), inSet('tier', 'api', 'web'), absent('gpu'), ne('x', 'y'), notIn('z', 'a')],
    ],
    ['\tenv\n==\r\nprod\t', [eq('env', 'prod')]],
  ])('parses %p', (text, requirements) => {
    expect(parseSelector(text)).toEqual({ requirements });
  });

  it.each<[string, number, string]>([
    ['env in (a', 9, "expected ')' or ',' but found end of input"],
    ['=b', 0, "expected a label key or '!' but found '='"],
    ['a===', 3, "expected a value, ',' or end of input but found '='"],
    ['a==(b)', 3, "expected a value, ',' or end of input but found '('"],
    ['a in ()', 6, "expected a value but found ')'"],
    ['a in (', 6, "expected a value, ',' or ')' but found end of input"],
    ['a in (=)', 6, "expected a value, ',' or ')' but found '='"],
    ['a in (x y)', 8, "expected ')' or ',' but found 'y'"],
    ['a in (x))', 8, "expected ',' or end of input but found ')'"],
    ['a in x', 5, "expected '(' but found 'x'"],
    ['a in', 4, "expected '(' but found end of input"],
    ['a b', 2, "expected '=', '==', '!=', 'in', 'notin', ',' or end of input but found 'b'"],
    ['a IN (x)', 2, "expected '=', '==', '!=', 'in', 'notin', ',' or end of input but found 'IN'"],
    ['a ! = b', 2, "expected '=', '==', '!=', 'in', 'notin', ',' or end of input but found '!'"],
    ['a (x)', 2, "found '('"],
    ['!', 1, 'expected a label key but found end of input'],
    ['!!a', 1, "expected a label key but found '!'"],
    ['!a=b', 2, "expected ',' or end of input but found '='"],
    ['a=b c', 4, "expected ',' or end of input but found 'c'"],
    ['a=b=c', 3, "expected ',' or end of input but found '='"],
    ['a,', 2, "expected a label key or '!' but found end of input"],
    [',a', 0, "expected a label key or '!' but found ','"],
    ['a,,b', 2, "expected a label key or '!' but found ','"],
    ['a$b=c', 1, "invalid label key 'a$b': the name has an invalid character '$'"],
    ['env=prod, tier=w@b', 16, "invalid label value 'w@b': a label value has an invalid character '@'"],
    ['é=1', 0, 'invalid character U+00E9'],
    [`${'x'.repeat(64)}=y`, 0, 'the name must be at most 63 characters (it has 64)'],
    [`k=${'v'.repeat(64)}`, 2, 'a label value must be at most 63 characters (it has 64)'],
    [`ex.com/${'n'.repeat(64)}`, 7, 'the name must be at most 63 characters (it has 64)'],
    [`${'p'.repeat(254)}/n`, 0, 'the prefix must be at most 253 characters (it has 254)'],
    ['-a', 0, 'the name must start with a letter or digit'],
    ['a-=b', 1, 'the name must end with a letter or digit'],
    ['a=b-', 3, 'a label value must end with a letter or digit'],
    ['a in (x,-y)', 8, 'a label value must start with a letter or digit'],
    ['a/b/c', 3, "a label key must contain at most one '/'"],
    ['/a', 0, "the prefix before '/' must not be empty"],
    ['x, a/', 5, "the name after '/' must not be empty"],
    ['Example.com/a', 0, "the prefix has an invalid character 'E'"],
    ['ex_ample.com/a', 2, "the prefix has an invalid character '_'"],
    ['example..com/a', 8, 'must start with a lowercase letter or digit'],
    ['.example.com/a', 0, 'must start with a lowercase letter or digit'],
    ['example.com./a', 11, 'must end with a lowercase letter or digit'],
    ['ex-.com/a', 2, 'must end with a lowercase letter or digit'],
    ['ex.-com/a', 3, 'must start with a lowercase letter or digit'],
  ])('rejects %p at position %p', (text, position, expected) => {
    const err = parseError(text);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('SelectorParseError');
    expect(err.position).toBe(position);
    expect(err.message.startsWith(`at position ${position}: `)).toBe(true);
    expect(err.message).toContain(expected);
  });

  it('quotes long input briefly', () => {
    const err = parseError(`a ${'b'.repeat(500)}`);
    expect(err.message.length).toBeLessThan(200);
  });
});

describe('matches', () => {
  it.each<[string, Record<string, string>, boolean]>([
    ['', {}, true],
    ['', { env: 'prod' }, true],
    ['env=prod', { env: 'prod' }, true],
    ['env=prod', { env: 'dev' }, false],
    ['env=prod', {}, false],
    ['env==prod', { env: 'prod', tier: 'web' }, true],
    // Kubernetes: `!=` and `notin` match objects that lack the key.
    ['env!=prod', {}, true],
    ['env!=prod', { tier: 'web' }, true],
    ['env!=prod', { env: 'dev' }, true],
    ['env!=prod', { env: 'prod' }, false],
    ['tier notin (web,api)', {}, true],
    ['tier notin (web,api)', { tier: 'db' }, true],
    ['tier notin (web,api)', { tier: 'api' }, false],
    ['tier in (web,api)', { tier: 'api' }, true],
    ['tier in (web,api)', { tier: 'db' }, false],
    ['tier in (web,api)', {}, false],
    ['gpu', { gpu: '' }, true],
    ['gpu', { gpu: 'a100' }, true],
    ['gpu', {}, false],
    ['!gpu', { gpu: '' }, false],
    ['!gpu', {}, true],
    ['gpu=', { gpu: '' }, true],
    ['gpu=', { gpu: 'a100' }, false],
    ['gpu=', {}, false],
    ['gpu!=', {}, true],
    ['gpu!=', { gpu: '' }, false],
    ['gpu in (,a100)', { gpu: '' }, true],
    ['gpu notin (,a100)', { gpu: '' }, false],
    ['env=prod,tier in (web,api),!gpu', { env: 'prod', tier: 'web' }, true],
    ['env=prod,tier in (web,api),!gpu', { env: 'prod', tier: 'web', gpu: 'yes' }, false],
    ['env=prod,tier in (web,api),!gpu', { env: 'prod', tier: 'db' }, false],
    // Only the labels' own keys count, not Object.prototype's.
    ['constructor', {}, false],
    ['!toString', {}, true],
    ['constructor!=x', {}, true],
    ['hasOwnProperty in (x)', {}, false],
    ['constructor=x', { constructor: 'x' }, true],
  ])('%p on %p is %p', (text, labels, expected) => {
    expect(matches(parseSelector(text), labels)).toBe(expected);
  });

  it('accepts label maps without a prototype', () => {
    const labels = Object.assign(Object.create(null) as Record<string, string>, { env: 'prod' });
    expect(matches(parseSelector('env=prod,!tier'), labels)).toBe(true);
  });
});

describe('formatSelector', () => {
  it.each<[string, string]>([
    ['', ''],
    [' tier in ( web , api,web ) , env == prod ', 'tier in (api,web),env=prod'],
    ['a,!b,c!=d,e notin (f)', 'a,!b,c!=d,e notin (f)'],
    ['a==,b!=', 'a=,b!='],
    ['a in (x,,)', 'a in (,x)'],
    ['a in (,)', 'a in (,)'],
  ])('formats %p as %p', (text, formatted) => {
    expect(formatSelector(parseSelector(text))).toBe(formatted);
  });

  it('sorts and deduplicates set values', () => {
    expect(formatSelector({ requirements: [notIn('a', 'z', '', 'b', 'z')] })).toBe('a notin (,b,z)');
  });

  it.each<[string, Requirement]>([
    ['bad key', exists('a b')],
    ['bad value', eq('a', 'b c')],
    ['no value for Equals', { key: 'a', operator: 'Equals', values: [] }],
    ['two values for NotEquals', { key: 'a', operator: 'NotEquals', values: ['x', 'y'] }],
    ['a value for Exists', { key: 'a', operator: 'Exists', values: ['x'] }],
    ['no values for In', { key: 'a', operator: 'In', values: [] }],
  ])('refuses a selector no text parses to: %s', (_why, requirement) => {
    expect(() => formatSelector({ requirements: [requirement] })).toThrow(/cannot format label selector/);
  });
});

describe('selectorFromMatchLabels', () => {
  it('is one Equals per label, in key order', () => {
    const selector = selectorFromMatchLabels({ tier: 'web', env: '', 'example.com/team': 'a' });
    expect(selector).toEqual({
      requirements: [eq('env', ''), eq('example.com/team', 'a'), eq('tier', 'web')],
    });
    expect(formatSelector(selector)).toBe('env=,example.com/team=a,tier=web');
    expect(selectorFromMatchLabels({})).toEqual({ requirements: [] });
  });

  it('refuses invalid labels, naming the key', () => {
    expect(() => selectorFromMatchLabels({ 'a b': 'x' })).toThrow(/'a b'/);
    expect(() => selectorFromMatchLabels({ env: 'x y' })).toThrow(/'env'/);
  });
});

describe('validateLabelKey and validateLabelValue', () => {
  it.each([
    'a',
    'A',
    '9',
    'app.kubernetes.io/name',
    'a_b.c-d',
    'x'.repeat(63),
    `${'a'.repeat(253)}/x`,
    'in',
    'constructor',
  ])('key %p is valid', (key) => {
    expect(validateLabelKey(key)).toBeUndefined();
  });

  it.each<[string, RegExp]>([
    ['', /must not be empty/],
    ['x'.repeat(64), /at most 63 characters \(it has 64\)/],
    [`${'a'.repeat(254)}/x`, /at most 253 characters/],
    ['a/b/c', /at most one '\/'/],
    ['/a', /prefix before '\/' must not be empty/],
    ['a/', /name after '\/' must not be empty/],
    ['-a', /must start with a letter or digit/],
    ['a.', /must end with a letter or digit/],
    ['a b', /invalid character U\+0020/],
    ['A.com/x', /prefix has an invalid character 'A'/],
    ['a..b/x', /must start with a lowercase letter or digit/],
  ])('key %p is invalid', (key, message) => {
    expect(validateLabelKey(key)).toMatch(message);
  });

  it.each(['', 'a', 'a-b_c.d', 'x'.repeat(63), 'in'])('value %p is valid', (value) => {
    expect(validateLabelValue(value)).toBeUndefined();
  });

  it.each<[string, RegExp]>([
    ['x'.repeat(64), /at most 63 characters/],
    ['-a', /must start with a letter or digit/],
    ['a_', /must end with a letter or digit/],
    ['a/b', /invalid character '\/'/],
    ['é', /invalid character U\+00E9/],
  ])('value %p is invalid', (value, message) => {
    expect(validateLabelValue(value)).toMatch(message);
  });
});

describe('schemas', () => {
  it('LabelSelectorText reports the parse error', () => {
    expect(LabelSelectorText.parse('env=prod, tier in (web)')).toBe('env=prod, tier in (web)');
    expect(LabelSelectorText.parse('')).toBe('');
    const result = LabelSelectorText.safeParse('env in (a');
    expect(result.success).toBe(false);
    expect(result.error?.issues).toHaveLength(1);
    expect(result.error?.issues[0]?.message).toContain("at position 9: expected ')' or ','");
  });

  it('Labels names the bad key', () => {
    expect(Labels.parse({ env: 'prod', 'example.com/team': '' })).toEqual({
      env: 'prod',
      'example.com/team': '',
    });
    const result = Labels.safeParse({ ok: 'fine', 'Bad Key': 'x', tier: 'not valid' });
    expect(result.success).toBe(false);
    const issues = result.error?.issues.map((i) => ({ path: i.path, message: i.message }));
    expect(issues).toEqual([
      { path: ['Bad Key'], message: expect.stringContaining("invalid label key 'Bad Key'") },
      { path: ['tier'], message: expect.stringContaining("invalid value 'not valid' for label 'tier'") },
    ]);
    expect(Labels.safeParse({ a: 1 }).success).toBe(false);
  });
});

// --- Properties --------------------------------------------------------------------------------

const chars = (s: string) => s.split('');
const ALNUM = chars('abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');
const LOWER_ALNUM = chars('abcdefghijklmnopqrstuvwxyz0123456789');

const word = (edge: string[], middle: string[], maxMiddle: number) =>
  fc.oneof(
    fc.constantFrom(...edge),
    fc
      .tuple(
        fc.constantFrom(...edge),
        fc.array(fc.constantFrom(...middle), { maxLength: maxMiddle }),
        fc.constantFrom(...edge),
      )
      .map(([first, rest, last]) => first + rest.join('') + last),
  );

const nameArb = fc.oneof(
  { weight: 8, arbitrary: word(ALNUM, [...ALNUM, '-', '_', '.'], 6) },
  { weight: 1, arbitrary: fc.constantFrom('in', 'notin', 'constructor', 'x'.repeat(63)) },
);
const prefixArb = fc
  .array(word(LOWER_ALNUM, [...LOWER_ALNUM, '-'], 4), { minLength: 1, maxLength: 3 })
  .map((parts) => parts.join('.'));
const keyArb = fc
  .tuple(fc.option(prefixArb, { freq: 3 }), nameArb)
  .map(([prefix, name]) => (prefix === null ? name : `${prefix}/${name}`));
const valueArb = fc.oneof(fc.constant(''), nameArb);

const requirementOf = (
  keys: fc.Arbitrary<string>,
  values: fc.Arbitrary<string>,
): fc.Arbitrary<Requirement> => {
  const set = fc
    .uniqueArray(values, { minLength: 1, maxLength: 4 })
    .map((vs) => [...vs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
  return fc.oneof(
    keys.map(exists),
    keys.map(absent),
    fc.tuple(keys, values).map(([k, v]) => eq(k, v)),
    fc.tuple(keys, values).map(([k, v]) => ne(k, v)),
    fc.tuple(keys, set).map(([k, vs]) => inSet(k, ...vs)),
    fc.tuple(keys, set).map(([k, vs]) => notIn(k, ...vs)),
  );
};
const selectorOf = (requirement: fc.Arbitrary<Requirement>): fc.Arbitrary<Selector> =>
  fc.array(requirement, { maxLength: 5 }).map((requirements) => ({ requirements }));

/** Any valid selector, for syntax properties. */
const selectorArb = selectorOf(requirementOf(keyArb, valueArb));

// Small pools so that generated selectors and label maps actually overlap.
const KEY_POOL = ['env', 'tier', 'example.com/team', 'gpu', 'constructor'];
const VALUE_POOL = ['', 'prod', 'dev', 'web', 'a.b-c'];
const poolSelectorArb = selectorOf(
  requirementOf(fc.constantFrom(...KEY_POOL), fc.constantFrom(...VALUE_POOL)),
);
const labelsArb = fc.dictionary(fc.constantFrom(...KEY_POOL), fc.constantFrom(...VALUE_POOL), { maxKeys: 5 });

/** A reference evaluation written directly from the Kubernetes rules. */
const oracle = (selector: Selector, labels: Record<string, string>): boolean => {
  const present = new Map(Object.entries(labels));
  for (const { key, operator, values } of selector.requirements) {
    const has = present.has(key);
    const value = present.get(key);
    let ok: boolean;
    if (operator === 'Exists') ok = has;
    else if (operator === 'DoesNotExist') ok = !has;
    else if (operator === 'Equals' || operator === 'In') ok = has && values.some((v) => v === value);
    else ok = !has || values.every((v) => v !== value);
    if (!ok) return false;
  }
  return true;
};

/** Formats a selector with arbitrary whitespace between tokens, and `==` for Equals. */
const looseFormat = (selector: Selector, spaces: string[]): string => {
  let n = 0;
  const ws = (required = false) => {
    const s = spaces[n++ % spaces.length] ?? '';
    return required && s === '' ? ' ' : s;
  };
  // A lone empty value is written as one omitted item before a comma: `( , )`.
  const list = (values: string[]) =>
    values.length === 1 && values[0] === ''
      ? `(${ws()},${ws()})`
      : `(${ws()}${values.map((v) => v + ws()).join(`,${ws()}`)})`;
  const one = ({ key, operator, values }: Requirement): string => {
    const [first = ''] = values;
    switch (operator) {
      case 'Exists':
        return key;
      case 'DoesNotExist':
        return `!${ws()}${key}`;
      case 'Equals':
        return `${key}${ws()}==${ws()}${first}`;
      case 'NotEquals':
        return `${key}${ws()}!=${ws()}${first}`;
      case 'In':
        return `${key}${ws(true)}in${ws()}${list(values)}`;
      case 'NotIn':
        return `${key}${ws(true)}notin${ws()}${list(values)}`;
    }
  };
  return ws() + selector.requirements.map((r) => one(r) + ws()).join(`,${ws()}`);
};

/** Parses, requiring that any failure is a SelectorParseError with a position inside the text. */
const parseOrExplain = (text: string): Selector | undefined => {
  try {
    return parseSelector(text);
  } catch (err) {
    expect(err).toBeInstanceOf(SelectorParseError);
    const { position, message } = err as SelectorParseError;
    expect(position).toBeGreaterThanOrEqual(0);
    expect(position).toBeLessThanOrEqual(text.length);
    expect(message.startsWith(`at position ${position}: `)).toBe(true);
    return undefined;
  }
};

describe('properties', () => {
  it('parse(format(s)) gives back s', () => {
    fc.assert(
      fc.property(selectorArb, (selector) => {
        const text = formatSelector(selector);
        expect(parseSelector(text)).toEqual(selector);
        expect(formatSelector(parseSelector(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('whitespace between tokens does not matter', () => {
    fc.assert(
      fc.property(
        selectorArb,
        fc.array(fc.constantFrom('', '', ' ', '\t', '  ', '\n', '\r\n '), { minLength: 1, maxLength: 12 }),
        (selector, spaces) => {
          expect(parseSelector(looseFormat(selector, spaces))).toEqual(selector);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('matches agrees with a reference evaluation', () => {
    fc.assert(
      fc.property(poolSelectorArb, labelsArb, (selector, labels) => {
        const expected = oracle(selector, labels);
        expect(matches(selector, labels)).toBe(expected);
        expect(matches(parseSelector(formatSelector(selector)), labels)).toBe(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('a selector is the AND of its requirements', () => {
    fc.assert(
      fc.property(poolSelectorArb, poolSelectorArb, labelsArb, (s1, s2, labels) => {
        const expected = matches(s1, labels) && matches(s2, labels);
        expect(matches({ requirements: [...s1.requirements, ...s2.requirements] }, labels)).toBe(expected);
        const texts = [formatSelector(s1), formatSelector(s2)].filter((t) => t !== '');
        expect(matches(parseSelector(texts.join(',')), labels)).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });

  it('selectorFromMatchLabels selects exactly the supersets of its labels', () => {
    fc.assert(
      fc.property(labelsArb, labelsArb, (matchLabels, labels) => {
        const selector = selectorFromMatchLabels(matchLabels);
        expect(matches(selector, matchLabels)).toBe(true);
        const superset = Object.entries(matchLabels).every(
          ([k, v]) => Object.prototype.hasOwnProperty.call(labels, k) && labels[k] === v,
        );
        expect(matches(selector, labels)).toBe(superset);
        expect(parseSelector(formatSelector(selector))).toEqual(selector);
      }),
      { numRuns: 300 },
    );
  });

  it('a mutated selector text either parses or fails with a position inside the text', () => {
    const stray = fc.constantFrom(
      '(',
      ')',
      ',',
      '=',
      '!',
      '!=',
      '==',
      ' ',
      '$',
      '/',
      '-',
      '.',
      'in',
      'notin',
      'é',
    );
    fc.assert(
      fc.property(selectorArb, fc.nat(), stray, (selector, at, insert) => {
        const text = formatSelector(selector);
        const i = at % (text.length + 1);
        parseOrExplain(text.slice(0, i) + insert + text.slice(i));
        // And with one character removed.
        if (text.length > 0)
          parseOrExplain(text.slice(0, i % text.length) + text.slice((i % text.length) + 1));
      }),
      { numRuns: 1000 },
    );
  });

  it('arbitrary text either parses to a selector that formats stably or fails with a position', () => {
    const soup = fc.string({
      unit: fc.constantFrom(...chars('ab=!(),  \t/.-_x'), 'in', 'notin', 'é', '\u00a0', '😀'),
      maxLength: 24,
    });
    fc.assert(
      fc.property(fc.oneof(soup, fc.string({ unit: 'binary-ascii', maxLength: 24 })), (text) => {
        const selector = parseOrExplain(text);
        if (selector !== undefined) expect(parseSelector(formatSelector(selector))).toEqual(selector);
      }),
      { numRuns: 1000 },
    );
  });

  it('filters 1,000 label sets exactly like the reference evaluation', () => {
    fc.assert(
      fc.property(
        fc.array(labelsArb, { minLength: 1000, maxLength: 1000 }),
        poolSelectorArb,
        (inventory, selector) => {
          const parsed = parseSelector(formatSelector(selector));
          const got = inventory.filter((labels) => matches(parsed, labels));
          expect(got).toEqual(inventory.filter((labels) => oracle(selector, labels)));
        },
      ),
      { numRuns: 10 },
    );
  });
});
