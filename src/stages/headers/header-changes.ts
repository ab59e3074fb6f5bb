import { Type } from '@sinclair/typebox';

/** The settings shared by the request- and response-header stages. */
export const HeaderChangeSettings = Type.Object(
  {
    set: Type.Record(
      Type.String({ format: 'header-name' }),
      Type.String({ format: 'header-value' }),
      {
        default: {},
        description: 'Headers to set, replacing any of the same name',
      },
    ),
    remove: Type.Array(Type.String({ format: 'header-name' }), {
      default: [],
      description: 'Headers to remove',
    }),
  },
  { additionalProperties: false },
);

export interface HeaderChange {
  readonly setHeaders: Readonly<Record<string, string>>;
  readonly removeHeaders: readonly string[];
}

/** Lower-cases names once at load so the hot path compares without folding case. */
export function compileHeaderChange(settings: {
  set: Record<string, string>;
  remove: string[];
}): HeaderChange {
  const setHeaders: Record<string, string> = {};
  for (const [name, value] of Object.entries(settings.set)) setHeaders[name.toLowerCase()] = value;
  return Object.freeze({
    setHeaders: Object.freeze(setHeaders),
    removeHeaders: Object.freeze(settings.remove.map((h) => h.toLowerCase())),
  });
}
