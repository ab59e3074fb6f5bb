import { Type, type Static } from '@sinclair/typebox';

/**
 * The schema of contract enforcement (docs/contract.md): the API descriptions the gateway
 * knows (`specs`) and what each route checks against one (`routes[].contract`,
 * `defaults.contract`).
 */
const Closed = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description });
const Section = <T extends Parameters<typeof Type.Object>[0]>(props: T, description: string) =>
  Type.Object(props, { additionalProperties: false, description, default: {} });

const SpecName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' });

const Spec = Closed(
  {
    file: Type.String({
      minLength: 1,
      description:
        'The OpenAPI 3.0 / 3.1 or Swagger 2.0 document (YAML or JSON), relative to the config file',
    }),
  },
  'An API description',
);

export const SpecsSection = Type.Record(SpecName, Spec, {
  additionalProperties: false,
  default: {},
  description: 'API descriptions by name; routes name one in contract.spec',
});

const Mode = (def: 'enforce' | 'monitor' | 'off', description: string) =>
  Type.Union([Type.Literal('enforce'), Type.Literal('monitor'), Type.Literal('off')], {
    default: def,
    description,
  });

const Multipart = Section(
  {
    maxParts: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: 100,
      description: 'The most parts a multipart/form-data body may have',
    }),
    maxPartBytes: Type.Integer({
      minimum: 1,
      maximum: 1_073_741_824,
      default: 1_048_576,
      description: 'The largest one part of a multipart/form-data body may be',
    }),
    maxHeaderBytes: Type.Integer({
      minimum: 64,
      maximum: 65_536,
      default: 2_048,
      description: 'The largest the headers of one part may be',
    }),
  },
  'Per-part limits of multipart/form-data bodies',
);

export const RouteContract = Closed(
  {
    spec: SpecName,
    operation: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 256,
        description:
          'The operationId to check against; by default the operation of the route method and path',
      }),
    ),
    request: Mode(
      'enforce',
      'Requests: enforce (refuse what breaks the contract), monitor (record), off',
    ),
    response: Mode(
      'monitor',
      'Responses: enforce (remove undeclared properties, 502 on a broken schema), monitor (record), off',
    ),
    additionalProperties: Type.Union([Type.Literal('refuse'), Type.Literal('strip')], {
      default: 'refuse',
      description:
        'Query parameters and JSON body properties the operation does not declare: refuse (400) or strip',
    }),
    multipart: Multipart,
  },
  'What the contract stage checks of a route, against which operation of which spec',
);

export type RouteContractConfig = Static<typeof RouteContract>;
export type SpecsConfig = Static<typeof SpecsSection>;
