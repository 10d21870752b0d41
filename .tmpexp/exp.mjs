import lib from 'xdr-js-serialize';
const T = lib.default;
console.log(Object.keys(lib), Object.keys(T));
console.log('str', new T.Str('é✓😀').toXDR('hex'));
const s = new T.Str(); s.fromXDR(Buffer.from('00000009c3a9e29c93f09f988000000000','hex')); console.log('strdec', JSON.stringify(s.value), [...s.value].map(c=>c.charCodeAt(0).toString(16)));
for (const v of ['9223372036854775808','-9223372036854775809','18446744073709551616']) { try { console.log('hyper str', v, new T.Hyper(v).toXDR('hex')); } catch(e){console.log('err',e.message)} }
for (const v of ['18446744073709551616','-1']) { try { console.log('uhyper str', v, new T.UHyper(v).toXDR('hex')); } catch(e){console.log('err',e.message)} }
for (const v of [2**63, 2**64, -(2**63)*2, 9007199254740993]) { try { console.log('hyper num', v, new T.Hyper(v).toXDR('hex')); } catch(e){console.log('err',e.message)} }
for (const v of [2**64, 2**65]) { try { console.log('uhyper num', v, new T.UHyper(v).toXDR('hex')); } catch(e){console.log('err',e.message)} }
try { new T.Hyper(5n) } catch(e) { console.log('bigint', e.constructor.name, e.message) }
try { new T.UHyper(5n) } catch(e) { console.log('ubigint', e.constructor.name, e.message) }
const E = new T.Enum({0:'A',1:'B'}, 7); console.log('enum', E.toXDR('hex'));
function depth(n){ const a=new T.VarArray(n+1, ()=>new T.UInt()); for(let i=0;i<n;i++)a.values.push(new T.UInt(i)); try{ a.toXDR(); return 'ok'}catch(e){return e.constructor.name+' '+e.message}}
for (const n of [1000,5000,6000,7000,10000,20000]) console.log('uints',n,depth(n));
function list(n){ let head=null; for(let i=0;i<n;i++){ head=new T.Option(new T.Struct(['item','next'],[new T.UInt(i), new T.Option(new T.Struct(['item','next'],[]), null)]), null);} return head }
function mklist(n){ let next=new T.Option(undefined,null); for(let i=n-1;i>=0;i--){ const st=new T.Struct(['item','next'],[new T.UInt(i), next]); next=new T.Option(st, st);} return next }
for (const n of [1000,1250,1500,2000,5000]) { try { const b = mklist(n).toXDR(); console.log('list',n,'ok',b.length) } catch(e){ console.log('list',n,e.constructor.name,e.message) } }
