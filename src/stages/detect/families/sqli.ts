import { C, type Hit, type Subject } from '../subject.js';
import { sqlTokens, type SqlToken } from './sql-tokens.js';

/**
 * SQL injection, read as token sequences rather than matched as text: `select the best option`
 * is three words, `' OR 'a'='a` is a quote closing a string and a tautology. Signatures are
 * checked at each token, looking a bounded number of tokens ahead, so the scan is linear.
 */

const LOGIC = new Set(['or', 'and', 'xor', '||', '&&']);
const COMPARE = new Set([
  '=',
  '==',
  '<>',
  '!=',
  '<',
  '>',
  '<=',
  '>=',
  '<=>',
  'like',
  'rlike',
  'regexp',
  'is',
]);
const STACKED_NEXT: Readonly<Record<string, readonly string[] | 'var' | 'proc' | 'end'>> = {
  drop: [
    'table',
    'database',
    'schema',
    'user',
    'view',
    'procedure',
    'function',
    'index',
    'trigger',
  ],
  delete: ['from'],
  insert: ['into'],
  truncate: ['table'],
  alter: ['table', 'user', 'database', 'login', 'system'],
  create: ['table', 'user', 'login', 'database', 'function', 'procedure', 'trigger', 'or'],
  exec: 'proc',
  execute: 'proc',
  shutdown: 'end',
  declare: 'var',
  waitfor: ['delay', 'time'],
};
const SCHEMA_WORDS: ReadonlySet<string> = new Set([
  'information_schema',
  'sysobjects',
  'syscolumns',
  'sys.objects',
  'sys.tables',
  'sys.databases',
  'pg_catalog',
  'pg_shadow',
  'pg_user',
  'sqlite_master',
  'sqlite_schema',
  'mysql.user',
  'xp_cmdshell',
  'sp_oacreate',
  'master..sysdatabases',
  'msysobjects',
  'all_tables',
  'user_tables',
]);
const SCHEMA_VARS = ['@@version', '@@datadir', '@@hostname', '@@basedir', '@@servername'];
const ERROR_FUNCTIONS = new Set([
  'extractvalue',
  'updatexml',
  'utl_inaddr.get_host_name',
  'utl_http.request',
  'ctxsys.drithsx.sn',
  'dbms_xmlgen.getxml',
  'xmltype',
  'geometrycollection',
  'multipoint',
  'polygon',
]);
const SLEEPERS = new Set(['pg_sleep', 'dbms_pipe.receive_message', 'dbms_lock.sleep', 'benchmark']);
const SLEEP_CONTEXT = new Set([
  'or',
  'and',
  'xor',
  'select',
  '||',
  '&&',
  '(',
  ',',
  ';',
  '=',
  "'",
  '"',
  '-',
  '+',
  'if',
  'then',
  'when',
]);

const SQL_PUNCTUATION =
  C.SEMI | C.PAREN | C.EQ | C.HASH | C.AT | C.STAR | C.LT | C.GT | C.PIPE | C.AMP;

/** Words that make SQL of a value without any punctuation (`1 or 1 like 1`, `waitfor delay`). */
export function hasBareSqlWord(lower: string): boolean {
  return (
    lower.includes('union') ||
    lower.includes('select') ||
    lower.includes('like') ||
    lower.includes('regexp') ||
    lower.includes('waitfor') ||
    lower.includes(' is ')
  );
}

/**
 * Cheap test: can this value be SQL at all? Most values cannot and skip the tokenizer. Prose
 * with apostrophes needs a keyword that compares (`' OR 'x' LIKE 'x`) to be worth reading.
 */
function mayBeSql(s: Subject): boolean {
  if (s.has(SQL_PUNCTUATION)) return true;
  if (s.has(C.DASH) && s.lower.includes('--')) return true;
  return hasBareSqlWord(s.lower);
}

const STATEMENTS =
  /select|update|drop|delete|insert|truncate|alter|create|exec|shutdown|declare|waitfor/;
const DELAYS_AND_CATALOGUES =
  /sleep|benchmark|receive_message|waitfor|information_schema|sysobjects|syscolumns|sys\.|pg_catalog|pg_shadow|pg_user|sqlite_master|sqlite_schema|mysql\.user|xp_cmdshell|sp_oacreate|master\.\.sysdatabases|msysobjects|all_tables|user_tables|load_file|outfile|dumpfile/;
const FUNCTIONS =
  /extractvalue|updatexml|utl_inaddr|utl_http|ctxsys|dbms_xmlgen|xmltype|geometrycollection|multipoint|polygon|char|chr|concat/;

/**
 * What any rule below needs before the tokenizer is worth running: a value with `=` or `;` and
 * no quote (a URL, a User-Agent, an Accept-Language) fires nothing unless one of these words
 * is in it. Each line is a necessary condition of some rules (a test holds every rule's hits
 * to it); together, of all of them.
 */
function hasSqlTrigger(s: Subject): boolean {
  const l = s.lower;
  // quote_breakout, quoted_keyword, and order_by_probe after a quote.
  if (s.has(C.QUOTE | C.BACKTICK)) return true;
  // union_select, subquery_logic, select_from, a stacked SELECT.
  if (l.includes('select')) return true;
  // order_by_probe after a number.
  if ((l.includes('order') || l.includes('group')) && l.includes('by')) return true;
  // tautology: a logical operator, then a comparison or a comment.
  if (
    (l.includes('or') || l.includes('and') || l.includes('||') || l.includes('&&')) &&
    (s.has(C.EQ | C.LT | C.GT | C.HASH) ||
      l.includes('--') ||
      l.includes('/*') ||
      l.includes('like') ||
      l.includes('regexp') ||
      l.includes('is'))
  ) {
    return true;
  }
  // stacked_query.
  if (s.has(C.SEMI) && STATEMENTS.test(l)) return true;
  // time_delay, schema_probe; char_encoding of a long hex literal; schema variables.
  if (DELAYS_AND_CATALOGUES.test(l) || l.includes('0x') || l.includes('@@')) return true;
  // error_function, char_encoding.
  return s.has(C.PAREN) && (FUNCTIONS.test(l) || (l.includes('exp') && l.includes('~')));
}

const text = (t: SqlToken | undefined): string => t?.text ?? '';
const isNum = (t: SqlToken | undefined): boolean => t?.type === 'num';

interface Operand {
  readonly value: string;
  readonly kind: 'num' | 'str' | 'ident' | 'bool';
  readonly next: number;
}

/** An operand: `1`, `'a'`, `''`, `a`, `true`, with the quotes of the string it may close. */
function operand(toks: readonly SqlToken[], at: number): Operand | undefined {
  let i = at;
  while (text(toks[i]) === '(') i++;
  const t = toks[i];
  if (t === undefined) return undefined;
  if (t.type === 'quote') {
    const inner = toks[i + 1];
    if (inner?.type === 'quote') return { value: '', kind: 'str', next: i + 2 };
    if (inner === undefined) return { value: '', kind: 'str', next: i + 1 };
    if (inner.type === 'num' || inner.type === 'word') {
      const closed = toks[i + 2]?.type === 'quote';
      return { value: inner.text, kind: 'str', next: closed ? i + 3 : i + 2 };
    }
    return undefined;
  }
  if (t.type === 'num') return { value: String(Number(t.text)), kind: 'num', next: i + 1 };
  if (t.type === 'word') {
    if (t.text === 'true' || t.text === 'false' || t.text === 'null') {
      return { value: t.text, kind: 'bool', next: i + 1 };
    }
    return { value: t.text, kind: 'ident', next: i + 1 };
  }
  return undefined;
}

/** `a = b` with both sides known before the query runs: the shape of a tautology or a probe. */
function isConstantComparison(toks: readonly SqlToken[], at: number): boolean {
  const a = operand(toks, at);
  if (a === undefined) return false;
  let i = a.next;
  while (text(toks[i]) === ')') i++;
  const cmp = text(toks[i]);
  if (!COMPARE.has(cmp)) {
    // `OR 1--`, `OR true#`: a constant condition, the rest of the query commented out.
    return toks[i]?.type === 'comment' && (a.kind === 'num' || a.kind === 'bool');
  }
  let j = i + 1;
  if (cmp === 'is' && text(toks[j]) === 'not') j++;
  const b = operand(toks, j);
  if (b === undefined) return false;
  if (a.kind === 'num' && b.kind === 'num') return true;
  if (a.kind === 'str' && b.kind === 'str') return true;
  if (a.kind === 'bool' || b.kind === 'bool') return a.kind !== 'ident';
  return a.value === b.value;
}

/** Whether `select` at `at` begins a query: `* `, a call, a variable, a number, or a FROM soon. */
function selectLooksSql(toks: readonly SqlToken[], at: number): boolean {
  const n = toks[at + 1];
  if (n === undefined) return false;
  if (n.text === '*' || n.type === 'var' || n.text === '(') return true;
  if (n.type === 'num') {
    const after = toks[at + 2];
    return (
      after === undefined ||
      after.text === ',' ||
      after.text === ')' ||
      after.type === 'comment' ||
      after.text === 'from'
    );
  }
  if (n.type === 'word' && text(toks[at + 2]) === '(') return true;
  for (let k = at + 1; k < Math.min(toks.length, at + 10); k++) {
    if (text(toks[k]) === 'from') return true;
  }
  return false;
}

export function scanSqli(s: Subject, hit: Hit): void {
  if (mayBeSql(s) && hasSqlTrigger(s)) readTokens(s, hit);
}

/** scanSqli without hasSqlTrigger: what the screen must never lose (test/stages/detect). */
export function scanSqlTokens(s: Subject, hit: Hit): void {
  if (mayBeSql(s)) readTokens(s, hit);
}

function readTokens(s: Subject, hit: Hit): void {
  const toks = sqlTokens(s.lower);
  let sawQuote = false;
  for (let i = 0; i < toks.length; i++) {
    const t = toks[i] as SqlToken;
    const next = toks[i + 1];
    if (t.type === 'quote') {
      if (t.text !== '`') {
        // A quote that closes the application's string, then code.
        const n = next;
        if (n?.type === 'comment' && !n.text.endsWith(' text')) hit('detect.sqli.quote_breakout');
        // Blind extraction: `' AND ascii(substr(...`, `' OR length(...`.
        if (LOGIC.has(text(n)) && toks[i + 2]?.type === 'word' && text(toks[i + 3]) === '(') {
          hit('detect.sqli.quote_breakout');
        }
        // Column counting: `' ORDER BY 3--`.
        if (
          (text(n) === 'order' || text(n) === 'group') &&
          text(toks[i + 2]) === 'by' &&
          isNum(toks[i + 3])
        ) {
          const after = toks[i + 4];
          if (after === undefined || after.type === 'comment') hit('detect.sqli.quote_breakout');
        }
        if (n?.text === ')') {
          const n2 = toks[i + 2];
          const t2 = text(n2);
          // Not `;`: code is full of `"key");`, and `'); DROP ...` is a stacked query anyway.
          if (n2?.type === 'comment' || LOGIC.has(t2) || t2 === 'union') {
            hit('detect.sqli.quote_breakout');
          }
        }
        if (sawQuote === false) sawQuote = true;
      }
      if (text(next) === 'order' || text(next) === 'group') {
        if (text(toks[i + 2]) === 'by' && isNum(toks[i + 3])) hit('detect.sqli.order_by_probe');
      }
      continue;
    }
    if (t.type === 'word') {
      const w = t.text;
      if (w === 'union') {
        let j = i + 1;
        if (text(toks[j]) === 'all' || text(toks[j]) === 'distinct') j++;
        while (text(toks[j]) === '(') j++;
        if (text(toks[j]) === 'select') hit('detect.sqli.union_select');
      } else if (LOGIC.has(w)) {
        if (isConstantComparison(toks, i + 1)) hit('detect.sqli.tautology');
        if (text(next) === '(' && text(toks[i + 2]) === 'select' && selectLooksSql(toks, i + 2)) {
          hit('detect.sqli.subquery_logic');
        }
      } else if (w === 'select') {
        if (selectLooksSql(toks, i)) {
          for (let k = i + 1; k < Math.min(toks.length, i + 12); k++) {
            if (text(toks[k]) === 'from') {
              hit('detect.sqli.select_from');
              break;
            }
          }
        }
      } else if (w === 'sleep' && text(next) === '(') {
        if (i === 0 || SLEEP_CONTEXT.has(text(toks[i - 1]))) hit('detect.sqli.time_delay');
      } else if (SLEEPERS.has(w) && text(next) === '(') {
        hit('detect.sqli.time_delay');
      } else if (w === 'waitfor' && (text(next) === 'delay' || text(next) === 'time')) {
        hit('detect.sqli.time_delay');
      } else if (ERROR_FUNCTIONS.has(w) && text(next) === '(') {
        if (w === 'extractvalue' || w === 'updatexml' || w.includes('.'))
          hit('detect.sqli.error_function');
        else if (i > 0 && LOGIC.has(text(toks[i - 1]))) hit('detect.sqli.error_function');
      } else if (w === 'exp' && text(next) === '(' && text(toks[i + 2]) === '~') {
        hit('detect.sqli.error_function');
      } else if (
        SCHEMA_WORDS.has(w) ||
        (w.includes('.') && SCHEMA_WORDS.has(w.slice(0, w.indexOf('.'))))
      ) {
        hit('detect.sqli.schema_probe');
      } else if (w === 'load_file' && text(next) === '(') {
        hit('detect.sqli.schema_probe');
      } else if (w === 'into' && (text(next) === 'outfile' || text(next) === 'dumpfile')) {
        hit('detect.sqli.schema_probe');
      } else if (
        (w === 'char' || w === 'chr' || w === 'nchar') &&
        text(next) === '(' &&
        isNum(toks[i + 2])
      ) {
        hit('detect.sqli.char_encoding');
      } else if (
        (w === 'concat' || w === 'concat_ws' || w === 'group_concat') &&
        text(next) === '('
      ) {
        hit('detect.sqli.char_encoding');
      } else if ((w === 'order' || w === 'group') && text(next) === 'by' && isNum(toks[i + 2])) {
        const after = toks[i + 3];
        if (i > 0 && isNum(toks[i - 1]) && (after === undefined || after.type === 'comment')) {
          hit('detect.sqli.order_by_probe');
        }
      }
      if (
        sawQuote &&
        (w === 'or' ||
          w === 'and' ||
          w === 'select' ||
          w === 'union' ||
          w === 'drop' ||
          w === 'insert' ||
          w === 'delete' ||
          w === 'update')
      ) {
        hit('detect.sqli.quoted_keyword');
      }
      continue;
    }
    if (t.type === 'var') {
      if (SCHEMA_VARS.includes(t.text)) hit('detect.sqli.schema_probe');
      continue;
    }
    if (t.type === 'op') {
      if (LOGIC.has(t.text) && isConstantComparison(toks, i + 1)) hit('detect.sqli.tautology');
      if (
        (t.text === '=' || LOGIC.has(t.text)) &&
        text(next) === '(' &&
        text(toks[i + 2]) === 'select' &&
        selectLooksSql(toks, i + 2)
      ) {
        hit('detect.sqli.subquery_logic');
      }
      continue;
    }
    if (t.type === 'num' && t.text.startsWith('0x') && t.text.length >= 10) {
      hit('detect.sqli.char_encoding');
      continue;
    }
    if (t.text === ';') {
      const n = next;
      if (n?.type !== 'word') continue;
      if (n.text === 'select') {
        if (selectLooksSql(toks, i + 1)) hit('detect.sqli.stacked_query');
        continue;
      }
      if (n.text === 'update') {
        if (toks[i + 2]?.type === 'word' && text(toks[i + 3]) === 'set')
          hit('detect.sqli.stacked_query');
        continue;
      }
      // Own keys only: `; constructor` must not read Object.prototype.constructor.
      const expect = Object.hasOwn(STACKED_NEXT, n.text) ? STACKED_NEXT[n.text] : undefined;
      if (expect === undefined) continue;
      const n2 = toks[i + 2];
      if (expect === 'var') {
        if (n2?.type === 'var') hit('detect.sqli.stacked_query');
      } else if (expect === 'proc') {
        const name = text(n2);
        if (name === '(' || /^(xp_|sp_|master\.)/.test(name)) hit('detect.sqli.stacked_query');
      } else if (expect === 'end') {
        if (n2 === undefined || n2.type === 'comment') hit('detect.sqli.stacked_query');
      } else if (expect.includes(text(n2))) hit('detect.sqli.stacked_query');
    }
  }
}
