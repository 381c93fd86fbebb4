/**
 * The part of `@lhncbc/ucum-lhc` (NLM's UCUM reference implementation, CommonJS, no type
 * declarations) that units.ts uses: `UcumLhcUtils.getInstance()` (README of the package).
 */
declare module '@lhncbc/ucum-lhc' {
  interface ConversionResult {
    status: 'succeeded' | 'failed' | 'error';
    toVal?: number;
    msg?: string[];
  }
  interface UcumLhcUtils {
    convertUnitTo(fromUnitCode: string, fromVal: number, toUnitCode: string): ConversionResult;
    validateUnitString(unitString: string): { status: 'valid' | 'invalid' | 'error' };
  }
  const ucum: { UcumLhcUtils: { getInstance(): UcumLhcUtils } };
  export default ucum;
}
