/**
 * EU and EEA member states as ISO 3166-1 alpha-2 codes. Meta reports a number's local-storage
 * region (`data_localization_region`) with these codes; of its regions only DE lies in the EU today,
 * CH and GB have adequacy decisions but are third countries under GDPR Chapter V.
 */
const EU_EEA = new Set([
  'AT',
  'BE',
  'BG',
  'HR',
  'CY',
  'CZ',
  'DK',
  'EE',
  'FI',
  'FR',
  'DE',
  'GR',
  'HU',
  'IE',
  'IT',
  'LV',
  'LT',
  'LU',
  'MT',
  'NL',
  'PL',
  'PT',
  'RO',
  'SK',
  'SI',
  'ES',
  'SE',
  // EEA, not EU
  'IS',
  'LI',
  'NO',
]);

/** True only for a region code inside the EU/EEA; no region (no local storage) is not EU. */
export function isEuEeaRegion(region: string | undefined | null): boolean {
  return typeof region === 'string' && EU_EEA.has(region.trim().toUpperCase());
}
