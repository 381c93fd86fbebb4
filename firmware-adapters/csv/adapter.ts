/**
 * Generic CSV lines with a declared column schema (names, types, units), delimiter, quoting,
 * optional header row and time column. One line is one reading; the framing is line by line, so
 * a quoted cell cannot span lines.
 */
import {
  type AdapterDefinition,
  type DecodedReading,
  type DecodeResult,
  type FieldValue,
  type FirmwareAdapter,
  type JSONSchemaObject,
  addFlag,
  excerpt,
  fail,
  hasControlChars,
  ok,
  skip,
  streamSchema,
} from '../adapter.ts';
import { decodeText } from '../text.ts';
import { type TimeFormat, parseTimestamp, timeFormatSchema } from '../time.ts';

export interface CsvColumn {
  name: string;
  type: 'number' | 'integer' | 'string' | 'boolean';
  unit?: string;
}

export interface CsvOptions {
  stream: string;
  delimiter: string;
  quote: string;
  header: boolean;
  comment: string;
  columns: CsvColumn[];
  timeColumn: string | null;
  timeFormat: TimeFormat;
  nullValues: string[];
  maxLength: number;
}

const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['columns'],
  properties: {
    stream: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$', default: 'data' },
    delimiter: { type: 'string', minLength: 1, maxLength: 1, not: { enum: ['"', '\n', '\r'] }, default: ',', description: 'One character, e.g. "," ";" "\\t".' },
    quote: { type: 'string', minLength: 1, maxLength: 1, default: '"' },
    header: { type: 'boolean', default: false, description: 'The instrument sends a header row (the column names); it is skipped wherever it appears.' },
    comment: { type: 'string', maxLength: 4, default: '#', description: 'Lines starting with this are skipped; "" for none.' },
    columns: {
      type: 'array',
      minItems: 1,
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'type'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.]{0,63}$' },
          type: { type: 'string', enum: ['number', 'integer', 'string', 'boolean'] },
          unit: { type: 'string', minLength: 1, description: 'UCUM code, for number and integer columns.' },
        },
      },
    },
    timeColumn: { type: ['string', 'null'], default: null, description: 'A column (of type string or number) holding the reading time: sourceTime, not a field.' },
    timeFormat: timeFormatSchema,
    nullValues: { type: 'array', items: { type: 'string' }, default: ['', 'NA', 'NaN', 'nan', 'null'], description: 'Cells read as null.' },
    maxLength: { type: 'integer', minimum: 16, maximum: 1_048_576, default: 65_536 },
  },
};

/** Splits one line into cells; undefined if a quoted cell is not closed. */
export function splitCsvLine(line: string, delimiter: string, quote: string): string[] | undefined {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  let wasQuoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === quote) {
        if (line[i + 1] === quote) {
          cell += quote;
          i++;
        } else quoted = false;
      } else cell += ch;
    } else if (ch === delimiter) {
      cells.push(wasQuoted ? cell : cell.trim());
      cell = '';
      wasQuoted = false;
    } else if (wasQuoted && (ch === ' ' || ch === '\t')) {
      // whitespace between a closing quote and the delimiter
    } else if (ch === quote && cell.trim() === '') {
      quoted = true;
      wasQuoted = true;
      cell = '';
    } else cell += ch;
  }
  if (quoted) return undefined;
  cells.push(wasQuoted ? cell : cell.trim());
  return cells;
}

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;
const BOOLEAN: Record<string, boolean> = { true: true, false: false, yes: true, no: false, '1': true, '0': false, on: true, off: false };

export function createCsv(options: CsvOptions): FirmwareAdapter {
  const names = options.columns.map((c) => c.name);
  const duplicate = names.find((n, i) => names.indexOf(n) !== i);
  if (duplicate !== undefined) throw new Error(`column '${duplicate}' is declared twice`);
  if (options.timeColumn !== null && !names.includes(options.timeColumn)) throw new Error(`timeColumn '${options.timeColumn}' is not a column`);
  for (const c of options.columns) {
    if (c.unit !== undefined && c.type !== 'number' && c.type !== 'integer') throw new Error(`column '${c.name}' has a unit but type ${c.type}`);
  }
  const nulls = new Set(options.nullValues);
  const fieldColumns = options.columns.filter((c) => c.name !== options.timeColumn);
  const typeSchema = { number: 'number', integer: 'integer', string: 'string', boolean: 'boolean' } as const;
  const schema: JSONSchemaObject = streamSchema(
    'CSV line',
    Object.fromEntries(fieldColumns.map((c) => [c.name, { type: [typeSchema[c.type], 'null'], ...(c.unit === undefined ? {} : { description: `In ${c.unit}.` }) }])),
    Object.fromEntries(fieldColumns.flatMap((c) => (c.unit === undefined ? [] : [[c.name, c.unit]]))),
  );
  return {
    name: 'csv',
    description: 'Generic CSV lines with a declared column schema',
    schemaVersion: 1,
    framing: { kind: 'line', terminator: '\n', maxLength: options.maxLength },
    schemas: { [options.stream]: schema },
    decode(frame: Buffer): DecodeResult {
      // Bytes that are not UTF-8 become U+FFFD (text.ts; delimiters and quotes are never swallowed):
      // in a string cell that is a damaged value, kept and flagged; in a number, boolean or time
      // cell it fails that cell's parse, as any malformed value does.
      const { text, valid } = decodeText(frame);
      if (hasControlChars(text, `\t${options.delimiter}`)) {
        return fail('ADAPTER_PARSE', `control bytes: ${excerpt(text)}`);
      }
      let invalidText = false;
      if (options.comment !== '' && text.startsWith(options.comment)) return skip('ADAPTER_CONTROL', 'comment line');
      const cells = splitCsvLine(text, options.delimiter, options.quote);
      if (cells === undefined) return fail('ADAPTER_TRUNCATED', `unclosed quote: ${excerpt(text)}`);
      if (options.header && cells.length === names.length && cells.every((c, i) => c === names[i])) return skip('ADAPTER_CONTROL', 'header row');
      if (cells.length < names.length) return fail('ADAPTER_TRUNCATED', `${cells.length} cells, expected ${names.length}: ${excerpt(text)}`);
      if (cells.length > names.length) return fail('ADAPTER_PARSE', `${cells.length} cells, expected ${names.length}: ${excerpt(text)}`);
      const fields: Record<string, FieldValue> = {};
      const units: Record<string, string> = {};
      let sourceTime: number | null = null;
      for (const [i, column] of options.columns.entries()) {
        const cell = cells[i]!;
        if (column.name === options.timeColumn) {
          if (nulls.has(cell)) continue;
          const t = parseTimestamp(cell, options.timeFormat);
          if (t === undefined) return fail('ADAPTER_PARSE', `column ${column.name} is not ${options.timeFormat}: ${excerpt(cell)}`);
          sourceTime = t;
          continue;
        }
        if (column.unit !== undefined) units[column.name] = column.unit;
        if (nulls.has(cell)) {
          fields[column.name] = null;
          continue;
        }
        switch (column.type) {
          case 'number':
          case 'integer': {
            const n = NUMBER.test(cell) ? Number(cell) : Number.NaN;
            if (!Number.isFinite(n) || (column.type === 'integer' && !Number.isSafeInteger(n))) {
              return fail('ADAPTER_PARSE', `column ${column.name} is not ${column.type === 'integer' ? 'an integer' : 'a number'}: ${excerpt(cell)}`);
            }
            fields[column.name] = n;
            break;
          }
          case 'boolean': {
            const b = BOOLEAN[cell.toLowerCase()];
            if (b === undefined) return fail('ADAPTER_PARSE', `column ${column.name} is not a boolean: ${excerpt(cell)}`);
            fields[column.name] = b;
            break;
          }
          case 'string':
            fields[column.name] = cell;
            if (!valid && cell.includes('\ufffd')) invalidText = true;
            break;
        }
      }
      const reading: DecodedReading = { stream: options.stream, fields, units, sourceTime };
      if (invalidText) addFlag(reading, 'TEXT_VALUE_INVALID_UTF8');
      return ok([reading]);
    },
  };
}

const definition: AdapterDefinition<CsvOptions> = {
  name: 'csv',
  description: 'Generic CSV: declared columns (names, types, units), delimiter, header row, time column',
  optionsSchema,
  create: createCsv,
};

export default definition;
