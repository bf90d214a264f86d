/**
 * The sandbox's record of a conversation, in the shape the chat page shows: what the business sent rendered
 * readably (buttons, list rows, templates with their filled parameters, media as labelled placeholders) and what
 * the customer answered.
 */

export type OutboundStatus = 'accepted' | 'sent' | 'delivered' | 'read' | 'failed';
export type InboundStatus = 'received' | 'read';

export interface SandboxButton {
  /** Reply id (interactive) or payload (template quick reply); what comes back when the customer taps it. */
  id: string;
  title: string;
  /** 'reply' for interactive reply buttons, 'quick_reply' for template buttons, 'url' for link buttons. */
  kind: 'reply' | 'quick_reply' | 'url';
  url?: string;
}

export interface SandboxListRow {
  id: string;
  title: string;
  description?: string;
}

export interface SandboxList {
  button: string;
  sections: { title?: string; rows: SandboxListRow[] }[];
}

export interface SandboxTemplate {
  name: string;
  language?: string;
  category?: string;
  /** Parameters as the business filled them, per component ('header', 'body', 'button 0'...). */
  params: { component: string; values: string[] }[];
}

export interface SandboxMessage {
  id: string;
  direction: 'inbound' | 'outbound';
  /** Cloud API message type: text, template, interactive, image, button, ... */
  type: string;
  /** Readable text: the body, the filled template text, a caption, or a placeholder such as "[image]". */
  text: string;
  header?: string;
  footer?: string;
  buttons?: SandboxButton[];
  list?: SandboxList;
  template?: SandboxTemplate;
  media?: { kind: string; caption?: string; reference?: string; filename?: string };
  /** Id of the message this one replies to. */
  contextMessageId?: string;
  /** Milliseconds since the epoch, from the sandbox clock. */
  at: number;
  status: OutboundStatus | InboundStatus;
  errors?: { code: number; title: string }[];
  /** An inbound message the business marked read with a typing indicator: an answer is being written. */
  typing?: boolean;
}

/** A template's wording, so the chat page can show the filled text instead of the bare parameters. */
export interface TemplateDefinition {
  name: string;
  /** Language code as sent in template.language.code; omitted means any language. */
  language?: string;
  /** MARKETING, UTILITY or AUTHENTICATION; a MARKETING template to a customer who stopped marketing fails (131050). */
  category?: string;
  header?: string;
  /** With {{1}}, {{2}} ... placeholders. */
  body: string;
  footer?: string;
  buttons?: { type: 'quick_reply' | 'url'; text: string; url?: string }[];
}

type Json = Record<string, unknown>;

const MEDIA_TYPES = ['image', 'audio', 'video', 'document', 'sticker'];

function asObject(value: unknown): Json {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Json) : {};
}

function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

/** Text of one template parameter as WhatsApp would show it. */
function parameterText(parameter: unknown): string {
  const p = asObject(parameter);
  switch (p.type) {
    case 'text':
      return str(p.text) ?? '';
    case 'currency':
      return str(asObject(p.currency).fallback_value) ?? '';
    case 'date_time':
      return str(asObject(p.date_time).fallback_value) ?? '';
    case 'payload':
      return str(p.payload) ?? '';
    case 'image':
    case 'video':
    case 'document': {
      const media = asObject(p[p.type as string]);
      return `[${p.type}${media.link ? `: ${media.link}` : media.id ? `: ${media.id}` : ''}]`;
    }
    default:
      return str(p.text) ?? `[${str(p.type) ?? 'parameter'}]`;
  }
}

function fill(text: string, values: string[]): string {
  return text.replace(/\{\{\s*(\d+)\s*\}\}/g, (whole, n: string) => values[Number(n) - 1] ?? whole);
}

function renderTemplate(template: Json, definitions: TemplateDefinition[]): Partial<SandboxMessage> {
  const name = str(template.name) ?? '';
  const language = str(asObject(template.language).code);
  const params: SandboxTemplate['params'] = [];
  const payloads: string[] = [];
  for (const component of asArray(template.components)) {
    const c = asObject(component);
    const values = asArray(c.parameters).map(parameterText);
    const label = c.type === 'button' ? `button ${str(c.index) ?? '0'}` : (str(c.type) ?? 'component');
    params.push({ component: label, values });
    // Meta takes the sub_type in any case (its guides write QUICK_REPLY too), as the schema does.
    const quickReply = typeof c.sub_type === 'string' && c.sub_type.toLowerCase() === 'quick_reply';
    if (c.type === 'button' && quickReply) payloads[Number(c.index ?? 0)] = values[0] ?? '';
  }
  const definition =
    definitions.find((d) => d.name === name && d.language === language) ??
    definitions.find((d) => d.name === name && d.language === undefined);
  const valuesOf = (component: string) => params.find((p) => p.component === component)?.values ?? [];
  const buttons: SandboxButton[] = [];
  if (definition?.buttons) {
    definition.buttons.forEach((b, index) => {
      if (b.type === 'url') buttons.push({ kind: 'url', id: String(index), title: b.text, url: b.url });
      else buttons.push({ kind: 'quick_reply', id: payloads[index] ?? b.text, title: b.text });
    });
  } else {
    payloads.forEach((payload, index) => {
      if (payload !== undefined) buttons.push({ kind: 'quick_reply', id: payload, title: payload || `#${index}` });
    });
  }
  const bodyValues = valuesOf('body');
  const text = definition
    ? fill(definition.body, bodyValues)
    : [`${name}${language ? ` (${language})` : ''}`, ...bodyValues.map((v, i) => `{{${i + 1}}} = ${v}`)].join('\n');
  return {
    text,
    header: definition?.header ? fill(definition.header, valuesOf('header')) : undefined,
    footer: definition?.footer,
    buttons: buttons.length > 0 ? buttons : undefined,
    template: { name, language, category: definition?.category, params },
  };
}

function renderInteractive(interactive: Json): Partial<SandboxMessage> {
  const header = asObject(interactive.header);
  const action = asObject(interactive.action);
  const rendered: Partial<SandboxMessage> = {
    text: str(asObject(interactive.body).text) ?? '',
    header: header.type === 'text' ? str(header.text) : header.type ? `[${str(header.type)}]` : undefined,
    footer: str(asObject(interactive.footer).text),
  };
  if (interactive.type === 'button') {
    rendered.buttons = asArray(action.buttons).map((b) => {
      const reply = asObject(asObject(b).reply);
      return { kind: 'reply', id: str(reply.id) ?? '', title: str(reply.title) ?? '' };
    });
  } else if (interactive.type === 'list') {
    rendered.list = {
      button: str(action.button) ?? '',
      sections: asArray(action.sections).map((s) => {
        const section = asObject(s);
        return {
          title: str(section.title),
          rows: asArray(section.rows).map((r) => {
            const row = asObject(r);
            return { id: str(row.id) ?? '', title: str(row.title) ?? '', description: str(row.description) };
          }),
        };
      }),
    };
  } else if (interactive.type === 'cta_url') {
    rendered.buttons = [urlButton(action, '0')];
  } else if (interactive.type === 'carousel') {
    renderCarousel(rendered, action);
  } else if (interactive.type === 'call_permission_request') {
    rendered.header = '[call permission request]';
  }
  return rendered;
}

function urlButton(action: Json, id: string): SandboxButton {
  const parameters = asObject(action.parameters);
  return { kind: 'url', id, title: str(parameters.display_text) ?? '', url: str(parameters.url) ?? undefined };
}

/**
 * A media carousel as one chat bubble: each card's media placeholder and text in card_index order under the body,
 * and every card's buttons in one row (a tapped quick reply comes back as a button reply, as from reply buttons).
 */
function renderCarousel(rendered: Partial<SandboxMessage>, action: Json): void {
  const cards = asArray(action.cards)
    .map(asObject)
    .sort((a, b) => Number(a.card_index) - Number(b.card_index));
  const lines = cards.map((card, i) => {
    const header = asObject(card.header);
    const text = str(asObject(card.body).text);
    return [`${i + 1}. [${str(header.type) ?? 'media'}]`, text].filter(Boolean).join(' ');
  });
  rendered.text = [rendered.text, ...lines].filter(Boolean).join('\n');
  rendered.buttons = cards.flatMap((card, i) => {
    const cardAction = asObject(card.action);
    if (cardAction.name === 'cta_url') return [urlButton(cardAction, String(i))];
    return asArray(cardAction.buttons).map((b) => {
      const reply = asObject(asObject(b).quick_reply);
      return { kind: 'reply' as const, id: str(reply.id) ?? '', title: str(reply.title) ?? '' };
    });
  });
}

/** Renders a Cloud API message body the business sent (already schema-valid) for the conversation view. */
export function renderOutgoing(body: Json, definitions: TemplateDefinition[]): Partial<SandboxMessage> {
  const type = str(body.type) ?? 'text';
  const content = asObject(body[type]);
  if (type === 'text') return { text: str(content.body) ?? '' };
  if (type === 'template') return renderTemplate(content, definitions);
  if (type === 'interactive') return renderInteractive(content);
  if (MEDIA_TYPES.includes(type)) {
    const caption = str(content.caption);
    return {
      text: caption ?? `[${type}]`,
      media: { kind: type, caption, reference: str(content.link) ?? str(content.id), filename: str(content.filename) },
    };
  }
  if (type === 'reaction') return { text: str(content.emoji) ?? '', contextMessageId: str(content.message_id) };
  if (type === 'location') {
    const place = [str(content.name), str(content.address)].filter(Boolean).join(', ');
    return { text: `[location] ${place || `${str(content.latitude)}, ${str(content.longitude)}`}` };
  }
  if (type === 'contacts') {
    const names = asArray(body.contacts).map((c) => str(asObject(asObject(c).name).formatted_name) ?? '?');
    return { text: `[contacts] ${names.join(', ')}` };
  }
  return { text: `[${type}]` };
}

/** What the customer does in the chat: the four reply kinds a WhatsApp user can produce in the sandbox. */
export type CustomerMessage =
  | { text: string }
  | { buttonReply: { id: string; title: string } }
  | { listReply: { id: string; title: string; description?: string } }
  | { quickReply: { payload: string; text: string } };

/** The Meta webhook message object (without from/id/timestamp) and the conversation entry for a customer message. */
export function customerMessageObject(message: CustomerMessage): {
  webhookMessage: Json;
  type: string;
  text: string;
} {
  if ('text' in message) {
    return { webhookMessage: { type: 'text', text: { body: message.text } }, type: 'text', text: message.text };
  }
  if ('buttonReply' in message) {
    const { id, title } = message.buttonReply;
    return {
      webhookMessage: { type: 'interactive', interactive: { type: 'button_reply', button_reply: { id, title } } },
      type: 'interactive',
      text: title,
    };
  }
  if ('listReply' in message) {
    const { id, title, description } = message.listReply;
    const listReply: Json = { id, title };
    if (description !== undefined) listReply.description = description;
    return {
      webhookMessage: { type: 'interactive', interactive: { type: 'list_reply', list_reply: listReply } },
      type: 'interactive',
      text: title,
    };
  }
  const { payload, text } = message.quickReply;
  return { webhookMessage: { type: 'button', button: { payload, text } }, type: 'button', text };
}

/** The longest text a customer can send on WhatsApp. */
export const MAX_CUSTOMER_TEXT = 4096;

/** Checks a customer message from an untrusted source (the chat page); returns undefined when it is not one. */
export function parseCustomerMessage(input: unknown): CustomerMessage | undefined {
  const m = asObject(input);
  const shortText = (v: unknown, max: number) => typeof v === 'string' && v.length > 0 && v.length <= max;
  if (shortText(m.text, MAX_CUSTOMER_TEXT)) return { text: m.text as string };
  const button = asObject(m.buttonReply);
  if (shortText(button.id, 256) && shortText(button.title, 256)) {
    return { buttonReply: { id: button.id as string, title: button.title as string } };
  }
  const row = asObject(m.listReply);
  if (shortText(row.id, 200) && shortText(row.title, 256)) {
    const description = typeof row.description === 'string' ? row.description : undefined;
    return { listReply: { id: row.id as string, title: row.title as string, description } };
  }
  const quick = asObject(m.quickReply);
  if (typeof quick.payload === 'string' && quick.payload.length <= 1000 && shortText(quick.text, 256)) {
    return { quickReply: { payload: quick.payload, text: quick.text as string } };
  }
  return undefined;
}
