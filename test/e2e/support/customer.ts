import assert from 'node:assert/strict';
import type { SandboxMessage } from '../../../lib/sandbox/messages';
import type { RealNodeRed } from '../../helpers/real-node-red';

const CHAT = '/whatsapp-gdpr/sandbox';

interface Numbers {
  numbers: { phoneNumberId: string; displayPhoneNumber: string; verifiedName: string }[];
}

/**
 * A person chatting with one of the deployed business numbers through the sandbox chat endpoints of the
 * running Node-RED (the same calls the chat page makes): what they send arrives at the flow as a signed
 * webhook, what the flow sends shows up in their conversation.
 */
export class SandboxCustomer {
  private constructor(
    private readonly red: RealNodeRed,
    readonly phoneNumberId: string,
    /** E.164, e.g. "+4915112345678". */
    readonly phone: string,
    readonly name: string,
  ) {}

  /** The customer of the sandbox number whose verified name is `businessName` (the whatsapp-config's name). */
  static async of(red: RealNodeRed, businessName: string, phone: string, name = 'Erika'): Promise<SandboxCustomer> {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answer = await red.request('GET', `${CHAT}/numbers`);
      assert.equal(answer.status, 200);
      const found = ((await answer.json()) as Numbers).numbers.find((n) => n.verifiedName === businessName);
      if (found) return new SandboxCustomer(red, found.phoneNumberId, phone, name);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no sandbox number named ${businessName}`);
  }

  get waId(): string {
    return this.phone.replace(/\D/g, '');
  }

  private async post(endpoint: string, body: Record<string, unknown>): Promise<unknown> {
    const answer = await this.red.request('POST', `${CHAT}/${endpoint}`, {
      phoneNumberId: this.phoneNumberId,
      waId: this.waId,
      ...body,
    });
    const text = await answer.text();
    assert.equal(answer.status, 200, text);
    const result = JSON.parse(text) as { deliveries?: { status?: number; ok?: boolean }[] };
    // The webhook answered 200: what it had to persist is durable.
    for (const delivery of result.deliveries ?? []) assert.equal(delivery.status, 200, JSON.stringify(result));
    return result;
  }

  says(text: string): Promise<unknown> {
    return this.post('send', { name: this.name, text });
  }

  /** Writes with the business-scoped user id Meta names beside her number (the sandbox keeps it for her next messages). */
  saysWithUserId(text: string, userId: string): Promise<unknown> {
    return this.post('send', { name: this.name, text, userId });
  }

  /** Writes under a username: Meta withholds her number, and the webhook names her by `userId` alone. */
  saysWithNumberHidden(text: string, userId: string): Promise<unknown> {
    return this.post('send', { name: this.name, text, userId, hideNumber: true });
  }

  tapsReplyButton(id: string, title: string): Promise<unknown> {
    return this.post('send', { name: this.name, buttonReply: { id, title } });
  }

  tapsTemplateButton(payload: string, text: string): Promise<unknown> {
    return this.post('send', { name: this.name, quickReply: { payload, text } });
  }

  turnsMarketing(value: 'stop' | 'resume'): Promise<unknown> {
    return this.post('marketing-preference', { value });
  }

  /** Meta tells the business that this customer moved to `newPhone`; the message comes from the old number. */
  changesNumber(newPhone: string): Promise<unknown> {
    return this.post('number-change', { newWaId: newPhone });
  }

  async conversation(): Promise<SandboxMessage[]> {
    const query = `phoneNumberId=${this.phoneNumberId}&waId=${this.waId}`;
    const answer = await this.red.request('GET', `${CHAT}/messages?${query}`);
    assert.equal(answer.status, 200);
    return ((await answer.json()) as { messages: SandboxMessage[] }).messages;
  }

  /** What the business sent this customer, oldest first. */
  async received(): Promise<SandboxMessage[]> {
    return (await this.conversation()).filter((m) => m.direction === 'outbound');
  }

  /**
   * Waits until the business has sent `count` messages in all (the flow runs after the webhook's 200), then
   * a little longer to see that nothing more follows, and returns them.
   */
  async receivedExactly(count: number, settleMs = 300): Promise<SandboxMessage[]> {
    const end = Date.now() + 15000;
    let messages = await this.received();
    while (messages.length < count && Date.now() < end) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      messages = await this.received();
    }
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    messages = await this.received();
    assert.equal(messages.length, count, `messages to ${this.name}: ${JSON.stringify(messages.map(brief))}`);
    return messages;
  }
}

export function brief(message: SandboxMessage): string {
  return `${message.type}: ${message.template ? `[${message.template.name}] ` : ''}${message.text}`;
}
