/** Postroom's version, as package.json says (a unit test keeps the two equal); bundles carry no package.json. */
export const POSTROOM_VERSION = '0.1.0';
