export { listProjects } from './handlers/projects'
export { approve } from './handlers/approve'
