/** op has no SQL database for plugins: each function throws. */
export declare function importSQL(sql: string): Promise<any>;
export declare function select(sql: string, ...args: any[]): Promise<any[]>;
export declare function exec(sql: string, ...args: any[]): Promise<any>;
export declare function count(sql: string, ...args: any[]): Promise<number>;
