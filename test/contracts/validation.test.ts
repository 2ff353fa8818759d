import { describe, expect, it } from 'vitest';
import { describeIssues, issuesLine, LocalMergeRequest, MergeRequest } from '../../src/contracts/index.ts';

const issues = (schema: typeof MergeRequest | typeof LocalMergeRequest, input: unknown) => {
  const r = schema.safeParse(input);
  if (r.success) throw new Error('expected a validation failure');
  return describeIssues(r.error.issues, input);
};
const base = { models: [{ path: 'a' }, { path: 'b' }], data: { evaluation: { builtin: 'mnist' } } };

describe('validation issues people can act on', () => {
  it('every issue, each union resolved to the branch the user meant', () => {
    const input = {
      ...base,
      architecture: { input: [784], layers: [{ type: 'Linear', name: '0' }, { type: 'conv2d', name: 'c', stride: 'two' }] },
      data: { evaluation: { builtin: 'fashion-mnist', split: 'tst' } },
    };
    expect(issues(LocalMergeRequest, input)).toEqual([
      { path: 'architecture.layers.0.type', message: 'unknown layer type "Linear"; expected one of linear, conv2d, batchnorm, layernorm, relu, gelu, identity, flatten, globalavgpool, maxpool, avgpool, add, patchembed, clstoken, posembed, attention, tokenpool (did you mean "linear"?)' },
      { path: 'architecture.layers.1.stride', message: 'Invalid input: expected number, received string' },
      { path: 'data.evaluation.split', message: 'Invalid option: expected one of "train"|"test"' },
    ]);
  });

  it('a template: its own fields, not the layer graph\'s', () => {
    expect(issues(LocalMergeRequest, { ...base, architecture: { template: 'resnet19' } })).toEqual([
      { path: 'architecture.template', message: 'unknown template "resnet19"; expected one of mlp, vgg, resnet20, resnet18, resnet34, resnet50, resnet101, resnet152, vit' },
    ]);
    expect(issues(LocalMergeRequest, { ...base, architecture: { template: 'mlp', input: [784] } })).toEqual([{ path: 'architecture.widths', message: 'required (array)' }]);
  });

  it('no branch stands out: the accepted forms are listed', () => {
    // the API takes no local paths: it says what it does take
    expect(issues(MergeRequest, { ...base, models: [{ path: 'a' }, { pth: 'x' }] })).toEqual(([
      { path: 'models.0', message: 'expected one of {upload}, {uri}, {url} (got "path")' },
      { path: 'models.1', message: 'expected one of {upload}, {uri}, {url} (got "pth")' },
    ]));
    expect(issuesLine(issues(LocalMergeRequest, { ...base, data: { evaluation: 3 } }))).toBe('data.evaluation: does not match any accepted form (got number)');
  });

  it('the same without the input (zod\'s messages alone): missing keys still read as missing', () => {
    const r = LocalMergeRequest.safeParse({ ...base, architecture: { template: 'mlp', input: [784] } });
    expect(describeIssues(r.error!.issues, undefined)).toEqual([{ path: 'architecture.widths', message: 'required (array)' }]);
  });
});
