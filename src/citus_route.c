/*-------------------------------------------------------------------------
 *
 * citus_route.c
 *	  Tenant-scoped queries on Citus tables routed to the tenant's shard.
 *
 * Citus prunes shards only on a constant or a bound parameter compared
 * with the distribution column; "<tenant column> = mt.current_tenant()" (a
 * STABLE function), in the generated policy or written in the query, makes
 * every shard run the query (an UPDATE or DELETE: a two-phase commit over
 * every worker).  For a SELECT, UPDATE or DELETE that Citus plans on its
 * fast path -- one hash-distributed table, distributed by its tenant
 * column, with no other condition on that column -- and that is confined to the
 * verified tenant, the planner half puts "<tenant column> = $n" in its
 * WHERE clause, $n a parameter number the statement does not use, and
 * marks the plan.  Confined means: the query says "<tenant column> =
 * mt.current_tenant()" (or "mt.current_tenant() = <tenant column>") at the
 * top level of its WHERE clause (that clause is replaced), or the role is
 * subject to the generated policy on that column (its security quals hold
 * it, the USING clause for UPDATE and DELETE; the clause is added).  Citus then defers
 * pruning to execution, where it evaluates the parameters; the
 * ExecutorStart half gives a marked plan the caller's parameters plus $n =
 * mt.current_tenant() called at that moment, the value the replaced or
 * repeated condition has in this statement.  So results do not change
 * (the workers still apply the policy); the plan holds no tenant, so a
 * cached plan is right for the next tenant too; with no context $n is
 * NULL and no shard is asked.
 *
 * The plan's mark is a PlanInvalItem whose cacheId is no syscache
 * (MT_ROUTE_MARK: it never matches an invalidation) and whose hashValue is
 * n; the plan cache copies it with the plan.
 *
 * An INSERT ... VALUES into such a table, by a role subject to the
 * generated policy, with no tenant context: the tenant column's default
 * mt.current_tenant() is NULL, and Citus, which evaluates the default on
 * the coordinator, would refuse the NULL distribution value (22004) before
 * the workers' policy refuses the row (42501, as on a single server).  The
 * planner marks such a plan (MT_INSERT_MARK, hashValue the table's oid);
 * at ExecutorStart, with no tenant at that moment, it fails with the
 * policy's 42501: no row could pass the policy.  INSERT ... SELECT is not
 * marked (it may insert no row).
 *
 * State: per backend, the verified oid of mt.current_tenant() and its
 * FmgrInfo.  No locks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_language.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pathnodes.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

#include "citus_node.h"
#include "citus_route.h"

/* the plan marks' cacheIds: not syscache ids ("MT" negated, and one less) */
#define MT_ROUTE_MARK	(-0x4D54)
#define MT_INSERT_MARK	(-0x4D55)

bool		mt_citus_route_tenant = true;

static Oid	current_tenant_oid = InvalidOid;
static FmgrInfo current_tenant_fn;

/*
 * Is funcid mt.current_tenant(), our C function?  (A function of another
 * name, language or symbol is not; a superuser alone can create a C
 * function.)  The verified oid (and how to call it) is remembered for the
 * life of the backend.
 */
static bool
is_current_tenant(Oid funcid)
{
	HeapTuple	tp;
	Form_pg_proc p;
	bool		ours = false;

	if (funcid == current_tenant_oid)
		return true;
	tp = SearchSysCache1(PROCOID, ObjectIdGetDatum(funcid));
	if (!HeapTupleIsValid(tp))
		return false;
	p = (Form_pg_proc) GETSTRUCT(tp);
	if (p->pronargs == 0 && p->prolang == ClanguageId &&
		strcmp(NameStr(p->proname), "current_tenant") == 0)
	{
		bool		isnull;
		Datum		src = SysCacheGetAttr(PROCOID, tp, Anum_pg_proc_prosrc, &isnull);
		Datum		bin;

		if (!isnull && strcmp(TextDatumGetCString(src), "mt_current_tenant") == 0)
		{
			bin = SysCacheGetAttr(PROCOID, tp, Anum_pg_proc_probin, &isnull);
			ours = !isnull && strstr(TextDatumGetCString(bin), "multitenant") != NULL;
		}
	}
	ReleaseSysCache(tp);
	if (ours)
	{
		fmgr_info_cxt(funcid, &current_tenant_fn, TopMemoryContext);
		current_tenant_oid = funcid;
	}
	return ours;
}

/*
 * "<column of rte 1> = mt.current_tenant()", or "mt.current_tenant() =
 * <column>" with an operator that is its own commutator (uuid's =): the
 * column's Var, else NULL.
 */
static Var *
generated_policy_column(Node *qual)
{
	OpExpr	   *op;
	Node	   *left;
	Node	   *right;
	Var		   *var;
	FuncExpr   *fn;

	if (qual == NULL || !IsA(qual, OpExpr))
		return NULL;
	op = (OpExpr *) qual;
	if (list_length(op->args) != 2)
		return NULL;
	left = (Node *) linitial(op->args);
	right = (Node *) lsecond(op->args);
	if (IsA(left, Var) && IsA(right, FuncExpr))
	{
		var = (Var *) left;
		fn = (FuncExpr *) right;
	}
	else if (IsA(left, FuncExpr) && IsA(right, Var) &&
			 get_commutator(op->opno) == op->opno)
	{
		var = (Var *) right;
		fn = (FuncExpr *) left;
	}
	else
		return NULL;
	if (var->varno != 1 || var->varlevelsup != 0 || fn->args != NIL ||
		!is_current_tenant(fn->funcid))
		return NULL;
	return var;
}

/* the mt.current_tenant() call of a qual generated_policy_column() took */
static Node *
policy_tenant_call(OpExpr *qual)
{
	return IsA(linitial(qual->args), FuncExpr) ?
		(Node *) linitial(qual->args) : (Node *) lsecond(qual->args);
}

/* the column of a qual generated_policy_column() took */
static Node *
policy_column(OpExpr *qual)
{
	return IsA(linitial(qual->args), Var) ?
		(Node *) linitial(qual->args) : (Node *) lsecond(qual->args);
}

/*
 * The generated policy among the security quals that every row returned
 * satisfies (a top-level item, or an item of a top-level AND), on column
 * attno: its OpExpr, else NULL.
 */
static OpExpr *
find_policy_qual(List *security_quals, AttrNumber attno)
{
	ListCell   *lc;

	foreach(lc, security_quals)
	{
		Node	   *q = (Node *) lfirst(lc);
		List	   *items = list_make1(q);
		ListCell   *lc2;

		if (IsA(q, BoolExpr) && ((BoolExpr *) q)->boolop == AND_EXPR)
			items = ((BoolExpr *) q)->args;
		foreach(lc2, items)
		{
			Var		   *v = generated_policy_column((Node *) lfirst(lc2));

			if (v != NULL && v->varattno == attno)
				return (OpExpr *) lfirst(lc2);
		}
	}
	return NULL;
}

static bool
mentions_column_walker(Node *node, AttrNumber *attno)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		return v->varno == 1 && v->varlevelsup == 0 && v->varattno == *attno;
	}
	return expression_tree_walker(node, mentions_column_walker, (void *) attno);
}

static bool
max_param_walker(Node *node, int *maxid)
{
	if (node == NULL)
		return false;
	if (IsA(node, Param) && ((Param *) node)->paramkind == PARAM_EXTERN)
		*maxid = Max(*maxid, ((Param *) node)->paramid);
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, max_param_walker, (void *) maxid, 0);
	return expression_tree_walker(node, max_param_walker, (void *) maxid);
}

static bool
citus_setting_on(const char *name)
{
	const char *v = GetConfigOption(name, true, false);

	return v != NULL && strcmp(v, "on") == 0;
}

int
mt_citus_route_query(Query *parse, ParamListInfo boundParams)
{
	RangeTblEntry *rte;
	AttrNumber	attno;
	Node	   *quals;
	List	   *conjuncts;
	ListCell   *lc;
	ListCell   *own = NULL;
	OpExpr	   *template;
	OpExpr	   *clause;
	Param	   *param;
	int			maxid = 0;

	/* the shape Citus's fast-path planner takes (FastPathRouterQuery) */
	if (!mt_citus_route_tenant || !mt_citus_loaded() ||
		(parse->commandType != CMD_SELECT && parse->commandType != CMD_UPDATE &&
		 parse->commandType != CMD_DELETE) || parse->utilityStmt != NULL ||
		parse->cteList != NIL || parse->hasSubLinks || parse->setOperations != NULL ||
		parse->hasTargetSRFs || parse->hasModifyingCTE ||
		list_length(parse->rtable) != 1 || parse->jointree == NULL)
		return 0;
	rte = (RangeTblEntry *) linitial(parse->rtable);
	if (rte->rtekind != RTE_RELATION)
		return 0;
	attno = mt_citus_hash_column(rte->relid);
	if (attno == InvalidAttrNumber)
		return 0;
	/* an UPDATE of the tenant column is Citus's to refuse */
	if (parse->commandType == CMD_UPDATE)
	{
		foreach(lc, parse->targetList)
			if (((TargetEntry *) lfirst(lc))->resno == attno)
				return 0;
	}

	/*
	 * The top-level conditions: one may be "<column> = mt.current_tenant()";
	 * no other may name the column (Citus would not take the fast path).
	 */
	quals = parse->jointree->quals;
	if (quals != NULL && IsA(quals, BoolExpr) && ((BoolExpr *) quals)->boolop == AND_EXPR)
		conjuncts = ((BoolExpr *) quals)->args;
	else
		conjuncts = quals != NULL ? list_make1(quals) : NIL;
	foreach(lc, conjuncts)
	{
		Var		   *v = generated_policy_column((Node *) lfirst(lc));

		if (own == NULL && v != NULL && v->varattno == attno)
			own = lc;
		else if (mentions_column_walker((Node *) lfirst(lc), &attno))
			return 0;
	}
	if (own != NULL)
		template = (OpExpr *) lfirst(own);
	else if ((template = find_policy_qual(rte->securityQuals, attno)) == NULL)
		return 0;
	if (!citus_setting_on("citus.enable_fast_path_router_planner") ||
		!citus_setting_on("citus.enable_router_execution"))
		return 0;

	/* a parameter number neither the query nor the bound parameters use */
	(void) query_tree_walker(parse, max_param_walker, (void *) &maxid, 0);
	if (boundParams != NULL)
		maxid = Max(maxid, boundParams->numParams);

	param = makeNode(Param);
	param->paramkind = PARAM_EXTERN;
	param->paramid = maxid + 1;
	param->paramtype = exprType(policy_tenant_call(template));
	param->paramtypmod = -1;
	param->paramcollid = InvalidOid;
	param->location = -1;
	clause = (OpExpr *) copyObject(template);
	clause->args = list_make2(copyObject(policy_column(template)), param);
	if (own == NULL)
		parse->jointree->quals = quals == NULL ? (Node *) clause :
			make_and_qual(quals, (Node *) clause);
	else if (list_length(conjuncts) == 1 && quals == lfirst(own))
		parse->jointree->quals = (Node *) clause;
	else
		lfirst(own) = clause;
	return param->paramid;
}

/* ---------------------------------------------------------------------
 * INSERT ... VALUES into a distributed table without a tenant
 * --------------------------------------------------------------------- */

Oid
mt_citus_insert_guard(Query *parse)
{
	RangeTblEntry *rte;
	AttrNumber	attno;
	ListCell   *lc;

	if (!mt_citus_loaded() || parse->commandType != CMD_INSERT ||
		parse->resultRelation != 1 || parse->withCheckOptions == NIL)
		return InvalidOid;
	/* INSERT ... SELECT may insert no row: that is no error */
	foreach(lc, parse->rtable)
		if (((RangeTblEntry *) lfirst(lc))->rtekind == RTE_SUBQUERY)
			return InvalidOid;
	rte = (RangeTblEntry *) linitial(parse->rtable);
	if (rte->rtekind != RTE_RELATION)
		return InvalidOid;
	attno = mt_citus_hash_column(rte->relid);
	if (attno == InvalidAttrNumber)
		return InvalidOid;
	foreach(lc, parse->withCheckOptions)
	{
		WithCheckOption *wco = (WithCheckOption *) lfirst(lc);

		if (wco->kind == WCO_RLS_INSERT_CHECK &&
			find_policy_qual(list_make1(wco->qual), attno) != NULL)
			return rte->relid;
	}
	return InvalidOid;
}

void
mt_citus_insert_mark(PlannedStmt *stmt, Oid relid)
{
	PlanInvalItem *mark = makeNode(PlanInvalItem);

	mark->cacheId = MT_INSERT_MARK;
	mark->hashValue = (uint32) relid;
	stmt->invalItems = lappend(stmt->invalItems, mark);
}

/* mt.current_tenant() now (called the way the policy calls it) */
static Datum
current_tenant_now(bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		d;

	InitFunctionCallInfoData(*fcinfo, &current_tenant_fn, 0, InvalidOid, NULL, NULL);
	d = FunctionCallInvoke(fcinfo);
	*isnull = fcinfo->isnull;
	return d;
}

void
mt_citus_route_mark(PlannedStmt *stmt, int paramid)
{
	PlanInvalItem *mark = makeNode(PlanInvalItem);

	mark->cacheId = MT_ROUTE_MARK;
	mark->hashValue = (uint32) paramid;
	stmt->invalItems = lappend(stmt->invalItems, mark);
}

/* ---------------------------------------------------------------------
 * The parameters of a marked plan: the caller's, and $n
 * --------------------------------------------------------------------- */

void
mt_citus_route_params(QueryDesc *queryDesc)
{
	PlannedStmt *stmt = queryDesc->plannedstmt;
	ParamListInfo orig = queryDesc->params;
	ParamListInfo params;
	ParamExternData *prm;
	int			paramid = 0;
	int			norig = orig != NULL ? orig->numParams : 0;
	ListCell   *lc;

	if (stmt == NULL || stmt->invalItems == NIL || !mt_citus_loaded())
		return;
	foreach(lc, stmt->invalItems)
	{
		PlanInvalItem *item = (PlanInvalItem *) lfirst(lc);

		if (item->cacheId == MT_ROUTE_MARK)
			paramid = (int) item->hashValue;
		else if (item->cacheId == MT_INSERT_MARK && OidIsValid(current_tenant_oid))
		{
			bool		isnull;

			(void) current_tenant_now(&isnull);
			if (isnull)
			{
				char	   *relname = get_rel_name((Oid) item->hashValue);

				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("new row violates row-level security policy for table \"%s\"",
								relname ? relname : "?"),
						 errdetail("There is no tenant context: no row can pass the tenant isolation policy."),
						 errhint("Enter a tenant first (doc/isolation.md).")));
			}
		}
	}
	if (paramid <= 0 || !OidIsValid(current_tenant_oid))
		return;

	/*
	 * A flat copy of the caller's parameters (as copyParamList() makes:
	 * Citus reads the array directly), values fetched once from a list
	 * that computes them (PL/pgSQL's), the numbers between unused, and $n.
	 */
	params = makeParamList(Max(paramid, norig));
	for (int i = 0; i < params->numParams; i++)
	{
		prm = &params->params[i];
		if (i < norig && orig->paramFetch != NULL)
		{
			ParamExternData *got = orig->paramFetch(orig, i + 1, false, prm);

			if (got != prm)
				*prm = *got;
		}
		else if (i < norig)
			*prm = orig->params[i];
		else
		{
			prm->value = (Datum) 0;
			prm->isnull = true;
			prm->pflags = 0;
			prm->ptype = InvalidOid;
		}
	}
	params->paramValuesStr = orig != NULL ? orig->paramValuesStr : NULL;

	/* $n: mt.current_tenant() of this statement */
	prm = &params->params[paramid - 1];
	prm->value = current_tenant_now(&prm->isnull);
	prm->pflags = PARAM_FLAG_CONST;
	prm->ptype = UUIDOID;
	queryDesc->params = params;
}
