export const typeDefs = /* GraphQL */ `
  scalar DateTime

  enum IssueStatus {
    BACKLOG
    TODO
    IN_PROGRESS
    DONE
    CANCELED
  }

  enum Priority {
    LOW
    MEDIUM
    HIGH
    URGENT
  }

  type User {
    id: ID!
    name: String!
    avatarUrl: String
    projects: [Project!]!
    assignedIssues(status: IssueStatus): [Issue!]!
  }

  type Project {
    id: ID!
    key: String!
    name: String!
    description: String
    isPrivate: Boolean!
    members: [User!]!
    issues(status: IssueStatus, first: Int = 50, after: ID): IssueConnection!
    stats: [StatusCount!]!
  }

  type StatusCount {
    status: IssueStatus!
    count: Int!
  }

  type Issue {
    id: ID!
    number: Int!
    title: String!
    body: String
    status: IssueStatus!
    priority: Priority!
    project: Project!
    reporter: User!
    assignee: User
    comments: [Comment!]!
    commentCount: Int!
    createdAt: DateTime!
    updatedAt: DateTime!
  }

  type Comment {
    id: ID!
    body: String!
    author: User!
    createdAt: DateTime!
  }

  type IssueConnection {
    nodes: [Issue!]!
    endCursor: ID
    hasNextPage: Boolean!
  }

  type Query {
    viewer: User!
    user(id: ID!): User
    project(key: String!): Project
    issue(id: ID!): Issue
    searchIssues(projectKey: String!, text: String!, first: Int = 20): [Issue!]!
  }

  input CreateIssueInput {
    projectKey: String!
    title: String!
    body: String
    priority: Priority = MEDIUM
    assigneeId: ID
  }

  input UpdateIssueInput {
    title: String
    body: String
    status: IssueStatus
    priority: Priority
    assigneeId: ID
  }

  type Mutation {
    createIssue(input: CreateIssueInput!): Issue!
    updateIssue(id: ID!, input: UpdateIssueInput!): Issue!
    addComment(issueId: ID!, body: String!): Comment!
    removeProjectMember(projectKey: String!, userId: ID!): Project!
  }
`;
