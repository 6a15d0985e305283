/**
 * Kubernetes label selectors: parsing, matching and formatting, with Kubernetes semantics.
 *
 * Pure and deterministic (no Node built-ins, no I/O), so workflow code may use it.
 *
 * Grammar (whitespace is allowed between tokens; an empty text selects everything):
 *
 *     selector    := requirement (',' requirement)*
 *     requirement := key                          Exists
 *                  | '!' key                      DoesNotExist
 *                  | key ('=' | '==') value?      Equals (a missing value is the empty string)
 *                  | key '!=' value?              NotEquals
 *                  | key 'in' '(' list ')'        In
 *                  | key 'notin' '(' list ')'     NotIn
 *     list        := value? (',' value?)*         but not empty: `()` is an error
 *
 * As in Kubernetes, `!=` and `notin` also match objects that lack the key, and the values of
 * `in` / `notin` are a set: the parser returns them sorted and deduplicated, and an omitted item
 * (`a in (x,)`) is the empty value.
 */
import { z } from 'zod';
import { DroverError, ErrorType } from './errors.ts';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Equals' | 'NotEquals';

/**
 * One condition on one label. `values` holds exactly one value for Equals/NotEquals, at least
 * one for In/NotIn, and none for Exists/DoesNotExist.
 */
export type Requirement = { key: string; operator: Operator; values: string[] };

/** All requirements must hold; no requirements select everything. */
export type Selector = { requirements: Requirement[] };

/** A selector text that does not parse; `position` is the 0-based index of the offending character. */
export class SelectorParseError extends Error {
  readonly position: number;

  constructor(position: number, detail: string) {
    super(`at position ${position}: ${detail}`);
    this.name = 'SelectorParseError';
    this.position = position;
  }
}

// --- Keys and values ---------------------------------------------------------------------------

const MAX_NAME_LENGTH = 63;
const MAX_PREFIX_LENGTH = 253;

/** What is wrong with a key or value, and where (an index into it). */
type Problem = { offset: number; message: string };

const isDigit = (c: string) => c >= '0' && c <= '9';
const isLowerAlnum = (c: string) => (c >= 'a' && c <= 'z') || isDigit(c);
const isAlnum = (c: string) => isLowerAlnum(c) || (c >= 'A' && c <= 'Z');
const isNameChar = (c: string) => isAlnum(c) || c === '-' || c === '_' || c === '.';

/** `'$'` for printable ASCII, `U+0020` otherwise, so that messages stay readable. */
const describeChar = (text: string, index: number): string => {
  const code = text.codePointAt(index) ?? 0;
  return code > 0x20 && code < 0x7f
    ? `'${String.fromCodePoint(code)}'`
    : `U+${code.toString(16).toUpperCase().padStart(4, '0')}`;
};

/** Quotes user input for a message, shortening very long input. */
const quote = (text: string): string => `'${text.length > 80 ? `${text.slice(0, 77)}...` : text}'`;

/** A label name (the part of a key after any prefix) or a non-empty label value. */
const nameProblem = (text: string, what: string): Problem | undefined => {
  if (text.length > MAX_NAME_LENGTH) {
    return {
      offset: 0,
      message: `${what} must be at most ${MAX_NAME_LENGTH} characters (it has ${text.length})`,
    };
  }
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (!isNameChar(c)) {
      return {
        offset: i,
        message: `${what} has an invalid character ${describeChar(text, i)} (allowed are letters, digits, '-', '_' and '.')`,
      };
    }
    if (i === 0 && !isAlnum(c)) return { offset: 0, message: `${what} must start with a letter or digit` };
  }
  const last = text.length - 1;
  if (last >= 0 && !isAlnum(text.charAt(last))) {
    return { offset: last, message: `${what} must end with a letter or digit` };
  }
  return undefined;
};

/** A key prefix is a DNS subdomain: dot-separated parts of lowercase letters, digits and '-'. */
const prefixProblem = (prefix: string): Problem | undefined => {
  if (prefix.length === 0) return { offset: 0, message: "the prefix before '/' must not be empty" };
  if (prefix.length > MAX_PREFIX_LENGTH) {
    return {
      offset: 0,
      message: `the prefix must be at most ${MAX_PREFIX_LENGTH} characters (it has ${prefix.length})`,
    };
  }
  const startMessage = 'each dot-separated part of the prefix must start with a lowercase letter or digit';
  const endMessage = 'each dot-separated part of the prefix must end with a lowercase letter or digit';
  let partStart = 0;
  for (let i = 0; i <= prefix.length; i++) {
    const atEnd = i === prefix.length;
    const c = atEnd ? '.' : prefix.charAt(i);
    if (c === '.') {
      if (i === partStart)
        return atEnd ? { offset: i - 1, message: endMessage } : { offset: i, message: startMessage };
      if (prefix.charAt(i - 1) === '-') return { offset: i - 1, message: endMessage };
      partStart = i + 1;
    } else if (c === '-') {
      if (i === partStart) return { offset: i, message: startMessage };
    } else if (!isLowerAlnum(c)) {
      return {
        offset: i,
        message: `the prefix has an invalid character ${describeChar(prefix, i)} (a prefix is a DNS subdomain: lowercase letters, digits, '-' and '.')`,
      };
    }
  }
  return undefined;
};

const keyProblem = (key: string): Problem | undefined => {
  if (key.length === 0) return { offset: 0, message: 'a label key must not be empty' };
  const slash = key.indexOf('/');
  if (slash === -1) return nameProblem(key, 'the name');
  const second = key.indexOf('/', slash + 1);
  if (second !== -1) return { offset: second, message: "a label key must contain at most one '/'" };
  const prefix = prefixProblem(key.slice(0, slash));
  if (prefix) return prefix;
  const name = key.slice(slash + 1);
  if (name.length === 0) return { offset: key.length, message: "the name after '/' must not be empty" };
  const problem = nameProblem(name, 'the name');
  return problem && { offset: slash + 1 + problem.offset, message: problem.message };
};

const valueProblem = (value: string): Problem | undefined => nameProblem(value, 'a label value');

/**
 * What is wrong with a label key, or undefined if it is valid. A key is an optional DNS-subdomain
 * prefix and '/', then a name of at most 63 letters, digits, '-', '_' and '.', starting and ending
 * with a letter or digit.
 */
export const validateLabelKey = (key: string): string | undefined => keyProblem(key)?.message;

/** What is wrong with a label value, or undefined if it is valid (empty, or like a key's name). */
export const validateLabelValue = (value: string): string | undefined => valueProblem(value)?.message;

// --- Parsing -----------------------------------------------------------------------------------

type TokenKind = 'word' | '=' | '==' | '!=' | '!' | '(' | ')' | ',' | 'end';
type Token = { kind: TokenKind; text: string; position: number };

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\n' || c === '\r';
const isDelimiter = (c: string) =>
  isSpace(c) || c === '!' || c === '=' || c === '(' || c === ')' || c === ',';

/** Splits selector text into tokens; a word is any run of characters that are not delimiters. */
const tokenize = (text: string): Token[] => {
  const tokens: Token[] = [];
  let i = 0;
  for (;;) {
    while (i < text.length && isSpace(text.charAt(i))) i++;
    if (i >= text.length) {
      tokens.push({ kind: 'end', text: '', position: text.length });
      return tokens;
    }
    const c = text.charAt(i);
    const start = i;
    if ((c === '=' || c === '!') && text.charAt(i + 1) === '=') {
      i += 2;
      tokens.push({ kind: c === '=' ? '==' : '!=', text: text.slice(start, i), position: start });
    } else if (c === '=' || c === '!' || c === '(' || c === ')' || c === ',') {
      i += 1;
      tokens.push({ kind: c, text: c, position: start });
    } else {
      while (i < text.length && !isDelimiter(text.charAt(i))) i++;
      tokens.push({ kind: 'word', text: text.slice(start, i), position: start });
    }
  }
};

const describeToken = (token: Token): string => (token.kind === 'end' ? 'end of input' : quote(token.text));

const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The canonical form of an `in` / `notin` value list: sorted, without duplicates. */
const valueSet = (values: readonly string[]): string[] => [...new Set(values)].sort(compareStrings);

/**
 * Parses a Kubernetes label selector such as `env=prod,tier in (web,api),!gpu`.
 * Throws SelectorParseError naming the position and what was expected there.
 */
export const parseSelector = (text: string): Selector => {
  const tokens = tokenize(text);
  const endToken = tokens[tokens.length - 1] ?? { kind: 'end', text: '', position: text.length };
  let next = 0;
  const peek = (): Token => tokens[next] ?? endToken;
  const take = (): Token => {
    const token = peek();
    if (token.kind !== 'end') next++;
    return token;
  };
  const fail = (token: Token, expected: string): never => {
    throw new SelectorParseError(token.position, `expected ${expected} but found ${describeToken(token)}`);
  };

  const readKey = (expected: string): string => {
    const token = take();
    if (token.kind !== 'word') return fail(token, expected);
    const problem = keyProblem(token.text);
    if (problem) {
      throw new SelectorParseError(
        token.position + problem.offset,
        `invalid label key ${quote(token.text)}: ${problem.message}`,
      );
    }
    return token.text;
  };
  const checkValue = (token: Token): string => {
    const problem = valueProblem(token.text);
    if (problem) {
      throw new SelectorParseError(
        token.position + problem.offset,
        `invalid label value ${quote(token.text)}: ${problem.message}`,
      );
    }
    return token.text;
  };

  /** After `=`, `==` or `!=`: a value, or nothing (the empty value) before ',' or the end. */
  const readExactValue = (): string => {
    const token = peek();
    if (token.kind === ',' || token.kind === 'end') return '';
    if (token.kind !== 'word') return fail(token, "a value, ',' or end of input");
    take();
    return checkValue(token);
  };

  /** After `in` / `notin`: a parenthesised, comma-separated, non-empty list. */
  const readValueList = (): string[] => {
    const open = take();
    if (open.kind !== '(') return fail(open, "'('");
    if (peek().kind === ')') return fail(peek(), 'a value');
    const values: string[] = [];
    for (;;) {
      const token = peek();
      if (token.kind === 'word') {
        take();
        values.push(checkValue(token));
      } else if (token.kind === ',' || token.kind === ')') {
        values.push('');
      } else {
        return fail(token, "a value, ',' or ')'");
      }
      const separator = take();
      if (separator.kind === ')') return valueSet(values);
      if (separator.kind !== ',') return fail(separator, "')' or ','");
    }
  };

  const readRequirement = (): Requirement => {
    if (peek().kind === '!') {
      take();
      return { key: readKey('a label key'), operator: 'DoesNotExist', values: [] };
    }
    const key = readKey("a label key or '!'");
    const token = peek();
    switch (token.kind) {
      case ',':
      case 'end':
        return { key, operator: 'Exists', values: [] };
      case '=':
      case '==':
        take();
        return { key, operator: 'Equals', values: [readExactValue()] };
      case '!=':
        take();
        return { key, operator: 'NotEquals', values: [readExactValue()] };
      case 'word':
        if (token.text === 'in' || token.text === 'notin') {
          take();
          return { key, operator: token.text === 'in' ? 'In' : 'NotIn', values: readValueList() };
        }
        break;
      default:
        break;
    }
    return fail(token, "'=', '==', '!=', 'in', 'notin', ',' or end of input");
  };

  const requirements: Requirement[] = [];
  if (peek().kind === 'end') return { requirements };
  for (;;) {
    requirements.push(readRequirement());
    const token = take();
    if (token.kind === 'end') return { requirements };
    if (token.kind !== ',') fail(token, "',' or end of input");
  }
};

// --- Matching and formatting -------------------------------------------------------------------

const requirementMatches = (requirement: Requirement, labels: Readonly<Record<string, string>>): boolean => {
  // Own properties only: `constructor` is a valid label key, and must not find Object.prototype's.
  const value = Object.hasOwn(labels, requirement.key) ? labels[requirement.key] : undefined;
  const present = value !== undefined;
  switch (requirement.operator) {
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    case 'Equals':
    case 'In':
      return present && requirement.values.includes(value);
    case 'NotEquals':
    case 'NotIn':
      return !present || !requirement.values.includes(value);
    default: {
      const unknown: never = requirement.operator;
      throw new Error(`unknown label selector operator ${String(unknown)}`);
    }
  }
};

/** Whether a set of labels satisfies every requirement of the selector. */
/** Parses a selector from user input; a bad one is a 400 naming the field and the position. */
export const selectorFrom = (text: string | undefined, field: string): Selector | undefined => {
  if (text === undefined) return undefined;
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorParseError) {
      throw new DroverError(ErrorType.BadInput, `${field}: ${err.message}`, {
        field,
        details: { position: err.position },
      });
    }
    throw err;
  }
};

export const matches = (selector: Selector, labels: Readonly<Record<string, string>>): boolean =>
  selector.requirements.every((requirement) => requirementMatches(requirement, labels));

const formatRequirement = (requirement: Requirement): string => {
  const { key, operator, values } = requirement;
  const invalid = (why: string): never => {
    throw new Error(`cannot format label selector requirement on ${quote(key)}: ${why}`);
  };
  const keyError = validateLabelKey(key);
  if (keyError !== undefined) invalid(keyError);
  for (const value of values) {
    const valueError = validateLabelValue(value);
    if (valueError !== undefined) invalid(`${quote(value)}: ${valueError}`);
  }
  const arity = (expected: number, ok: boolean) => {
    if (!ok) invalid(`${operator} takes ${expected === 1 ? 'one value' : 'no values'}, not ${values.length}`);
  };
  switch (operator) {
    case 'Exists':
      arity(0, values.length === 0);
      return key;
    case 'DoesNotExist':
      arity(0, values.length === 0);
      return `!${key}`;
    case 'Equals':
      arity(1, values.length === 1);
      return `${key}=${values[0] ?? ''}`;
    case 'NotEquals':
      arity(1, values.length === 1);
      return `${key}!=${values[0] ?? ''}`;
    case 'In':
    case 'NotIn': {
      const set = valueSet(values);
      if (set.length === 0) invalid(`${operator} needs at least one value`);
      // The empty value sorts first and is written as an omitted item: `(,x)`; alone it is `(,)`.
      const list = set.length === 1 && set[0] === '' ? ',' : set.join(',');
      return `${key} ${operator === 'In' ? 'in' : 'notin'} (${list})`;
    }
    default: {
      const unknown: never = operator;
      return invalid(`unknown operator ${String(unknown)}`);
    }
  }
};

/**
 * The canonical text of a selector; parseSelector gives back an equal selector (with `in` /
 * `notin` values sorted and deduplicated). Throws an Error if the selector is not valid (a bad
 * key or value, or the wrong number of values for its operator), as no text would parse to it.
 */
export const formatSelector = (selector: Selector): string =>
  selector.requirements.map(formatRequirement).join(',');

/** The selector of a Kubernetes `matchLabels` map: one Equals per label, in key order. */
export const selectorFromMatchLabels = (labels: Readonly<Record<string, string>>): Selector => ({
  requirements: Object.keys(labels)
    .sort(compareStrings)
    .map((key) => {
      const value = labels[key] ?? '';
      const error = validateLabelKey(key) ?? validateLabelValue(value);
      if (error !== undefined) throw new Error(`invalid matchLabels entry ${quote(key)}: ${error}`);
      return { key, operator: 'Equals', values: [value] };
    }),
});

// --- Schemas -----------------------------------------------------------------------------------

/** A label selector text; a bad one is reported with the parser's message (position and expectation). */
export const LabelSelectorText = z.string().superRefine((text, ctx) => {
  try {
    parseSelector(text);
  } catch (err) {
    if (!(err instanceof SelectorParseError)) throw err;
    ctx.addIssue({ code: 'custom', message: `invalid label selector: ${err.message}` });
  }
});
export type LabelSelectorText = z.infer<typeof LabelSelectorText>;

/** A map of Kubernetes labels; each bad key or value is an issue at that key, naming it. */
export const Labels = z.record(z.string(), z.string()).superRefine((labels, ctx) => {
  for (const [key, value] of Object.entries(labels)) {
    const keyError = validateLabelKey(key);
    if (keyError !== undefined) {
      ctx.addIssue({ code: 'custom', path: [key], message: `invalid label key ${quote(key)}: ${keyError}` });
    }
    const valueError = validateLabelValue(value);
    if (valueError !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [key],
        message: `invalid value ${quote(value)} for label ${quote(key)}: ${valueError}`,
      });
    }
  }
});
export type Labels = z.infer<typeof Labels>;
