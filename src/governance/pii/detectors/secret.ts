import type { PiiMatch } from '../entities.ts';

/**
 * Credentials recognisable by their prefix. Each body is long enough that prose does not produce
 * it by accident; the generic `sk-` form also needs a digit (below), so `sk-your-key-here` and
 * `sk-xxxxxxxx…` placeholders in documentation pass.
 */
const PREFIXED_KEYS: readonly string[] = [
  'sk-[A-Za-z0-9][A-Za-z0-9_-]{19,}', // OpenAI (sk-, sk-proj-, sk-svcacct-), Anthropic (sk-ant-), OpenRouter
  '(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}', // Stripe secret and restricted keys
  'whsec_[A-Za-z0-9+/=]{24,}', // Stripe webhook signing secret
  'gh[pousr]_[A-Za-z0-9]{30,}', // GitHub classic, OAuth, user-to-server, server-to-server, refresh
  'github_pat_[A-Za-z0-9_]{50,}', // GitHub fine-grained
  'xox[abposr]-[A-Za-z0-9-]{10,}', // Slack
  '(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}', // AWS access key id
  'AIza[0-9A-Za-z_-]{35}', // Google API key
  'bk_tn_[0-9a-z]{26}_[A-Za-z0-9_-]{43}', // Bulkhead (identity/api-keys/key-format.ts)
  'glpat-[A-Za-z0-9_-]{20,}', // GitLab
  'hf_[A-Za-z]{30,}', // Hugging Face
  'npm_[A-Za-z0-9]{36}', // npm
  'SG\\.[A-Za-z0-9_-]{22}\\.[A-Za-z0-9_-]{43}', // SendGrid
  'gsk_[A-Za-z0-9]{40,}', // Groq
  'key-[A-Za-z0-9]{32}', // Mailgun
  '\\d{8,10}:AA[A-Za-z0-9_-]{33}', // Telegram bot
  '[MNO][A-Za-z0-9_-]{23,25}\\.[A-Za-z0-9_-]{6}\\.[A-Za-z0-9_-]{27,38}', // Discord bot
  '(?<=AccountKey=)[A-Za-z0-9+/]{86}==', // Azure storage account key in a connection string
];
const PREFIXED = new RegExp(
  `(?<![A-Za-z0-9_-])(?:${PREFIXED_KEYS.join('|')})(?![A-Za-z0-9_-])`,
  'g',
);

/**
 * AWS secret access keys have no prefix; they are found after their name in credentials files,
 * environment dumps and JSON (`aws_secret_access_key = …`, `"SecretAccessKey": "…"`). A word that
 * contains this (ignoring case and underscores) can introduce one.
 */
export const AWS_SECRET_WORD = 'secretaccesskey';
const AWS_SECRET = new RegExp(
  `(?<=(?:aws_?)?secret_?access_?key["']?\\s*[:=]\\s*["']?)[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])`,
  'gi',
);

const JWT =
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]+(?![A-Za-z0-9_-]|\.[A-Za-z0-9_-])/g;

function hasAlgHeader(jwt: string): boolean {
  try {
    const header: unknown = JSON.parse(
      Buffer.from(jwt.slice(0, jwt.indexOf('.')), 'base64url').toString('utf8'),
    );
    return typeof header === 'object' && header !== null && 'alg' in header;
  } catch {
    return false;
  }
}

/**
 * A PEM private key is held to its END line, but no further than this many characters from its
 * BEGIN line: a key cut off mid-paste is still redacted, from BEGIN through the base64 that follows
 * it. The streaming redactor holds an open block for as long (see boundaries.ts).
 */
export const PEM_MAX_CHARS = 8192;

const PEM_BEGIN = /-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /^-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----/;
/** The longest line PEM_END accepts. */
export const PEM_END_LINE_MAX_CHARS = '-----END '.length + 40 + 'PRIVATE KEY BLOCK-----'.length;
/** Base64 lines, including headers (Proc-Type: 4,ENCRYPTED) and JSON-escaped newlines. */
const PEM_BODY = /^(?:[A-Za-z0-9+/=\\\s:,]|-(?!----))*/;

function findPemKeys(text: string): PiiMatch[] {
  const found: PiiMatch[] = [];
  for (const m of text.matchAll(PEM_BEGIN)) {
    const start = m.index;
    const bodyStart = start + m[0].length;
    const limit = Math.min(text.length, start + PEM_MAX_CHARS);
    const firstEnd = text.indexOf('-----END', bodyStart);
    const endLine = firstEnd < 0 ? null : PEM_END.exec(text.slice(firstEnd, limit));
    let end: number;
    if (endLine !== null) {
      end = firstEnd + endLine[0].length;
    } else {
      end = bodyStart + PEM_BODY.exec(text.slice(bodyStart, limit))![0].length;
      while (end > bodyStart && /\s/.test(text[end - 1]!)) end--;
    }
    found.push({ entity: 'secret', start, end, value: text.slice(start, end) });
  }
  return found;
}

export function findSecrets(text: string): PiiMatch[] {
  const found = findPemKeys(text);
  for (const m of text.matchAll(PREFIXED)) {
    if (m[0].startsWith('sk-') && !/\d/.test(m[0])) continue;
    found.push({ entity: 'secret', start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  for (const m of text.matchAll(AWS_SECRET)) {
    found.push({ entity: 'secret', start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  for (const m of text.matchAll(JWT)) {
    if (!hasAlgHeader(m[0])) continue;
    found.push({ entity: 'secret', start: m.index, end: m.index + m[0].length, value: m[0] });
  }
  return found;
}
