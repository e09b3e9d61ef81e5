/**
 * Neutron `/v2.0/extensions`: the API extensions Nubo implements. Clients probe them (the CLI's
 * `port create` asks for tag-ports-during-bulk-creation and must get a 404 to go on without).
 */
import { Controller, Get, Param, UseFilters } from '@nestjs/common';
import { neutronNotFound } from './neutron-errors';
import { NeutronExceptionFilter } from './neutron-exception.filter';

const EXTENSIONS: Array<[alias: string, name: string, description: string]> = [
  ['provider', 'Provider Network', 'Expose mapping of virtual networks to physical networks'],
  ['external-net', 'Neutron external network', 'Adds external network attribute to network resource.'],
  ['security-group', 'security-group', 'The security groups extension.'],
  ['port-security', 'Port Security', 'Provides port security'],
  ['allowed-address-pairs', 'Allowed Address Pairs', 'Provides allowed address pairs'],
  ['binding', 'Port Binding', 'Expose port bindings of a virtual port to external application'],
  ['quotas', 'Quota management support', 'Expose functions for quotas management per project'],
  ['standard-attr-revisions', 'Resource revision numbers', 'This extension will display the revision number of neutron resources.'],
  ['standard-attr-timestamp', 'Resource timestamps', 'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.'],
  ['standard-attr-description', 'standard-attr-description', 'Extension to add descriptions to standard attributes'],
  ['project-id', 'project_id field enabled', 'Extension that indicates that project_id field is enabled.'],
  ['net-mtu', 'Network MTU', 'Provides MTU attribute for a network resource.'],
];

const view = ([alias, name, description]: (typeof EXTENSIONS)[number]) => ({ alias, name, description, updated: '2024-01-01T00:00:00-00:00', links: [] });

@Controller('network/v2.0/extensions')
@UseFilters(NeutronExceptionFilter)
export class NeutronExtensionsController {
  @Get()
  list(): unknown {
    return { extensions: EXTENSIONS.map(view) };
  }

  @Get(':alias')
  show(@Param('alias') alias: string): unknown {
    const found = EXTENSIONS.find(([a]) => a === alias);
    if (!found) throw neutronNotFound('ExtensionNotFound', `Extension with alias ${alias} does not exist`);
    return { extension: view(found) };
  }
}
