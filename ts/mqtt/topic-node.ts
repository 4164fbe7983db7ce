/**
 * One node of the topic tree (ts/mqtt/topic-tree.ts): one filter prefix,
 * its children by level, and its subscribers inline while there is one.
 */
import type { Group } from './shared-group.ts';

/** Called once per matching (filter, key) subscription. */
export type MatchVisitor<S> = (value: S, filter: string, key: string) => void;

export class TopicNode<S> {
  children: Map<string, TopicNode<S>> | undefined = undefined;
  plus: TopicNode<S> | undefined = undefined;
  hash: TopicNode<S> | undefined = undefined;
  /** The only subscriber, while there is exactly one and `subs` is undefined. */
  soloKey: string | undefined = undefined;
  soloValue: S | undefined = undefined;
  /** Two or more subscribers (it stays a Map until emptied, even with one left). */
  subs: Map<string, S> | undefined = undefined;
  shared: Map<string, Group<S>> | undefined = undefined;
  /** The full filter this node stands for; set while it has subscribers or groups. */
  filter: string | undefined = undefined;

  hasSubs(): boolean {
    return this.soloKey !== undefined || this.subs !== undefined;
  }

  getSub(key: string): S | undefined {
    return this.subs !== undefined ? this.subs.get(key) : this.soloKey === key ? this.soloValue : undefined;
  }

  /** Returns whether the key is new here. */
  setSub(key: string, value: S): boolean {
    if (this.subs !== undefined) {
      const isNew = !this.subs.has(key);
      this.subs.set(key, value);
      return isNew;
    }
    if (this.soloKey === undefined || this.soloKey === key) {
      const isNew = this.soloKey === undefined;
      this.soloKey = key;
      this.soloValue = value;
      return isNew;
    }
    this.subs = new Map([
      [this.soloKey, this.soloValue as S],
      [key, value],
    ]);
    this.soloKey = undefined;
    this.soloValue = undefined;
    return true;
  }

  deleteSub(key: string): boolean {
    if (this.subs !== undefined) {
      if (!this.subs.delete(key)) return false;
      if (this.subs.size === 0) this.subs = undefined;
      return true;
    }
    if (this.soloKey === undefined || this.soloKey !== key) return false;
    this.soloKey = undefined;
    this.soloValue = undefined;
    return true;
  }

  visitSubs(visit: MatchVisitor<S>): void {
    const filter = this.filter as string;
    if (this.subs !== undefined) {
      for (const [key, value] of this.subs) visit(value, filter, key);
    } else if (this.soloKey !== undefined) {
      visit(this.soloValue as S, filter, this.soloKey);
    }
  }

  isEmpty(): boolean {
    return (
      !this.hasSubs() &&
      this.shared === undefined &&
      this.plus === undefined &&
      this.hash === undefined &&
      (this.children === undefined || this.children.size === 0)
    );
  }
}
